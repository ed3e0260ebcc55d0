#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Reading PNG files from disk and writing them atomically.
public enum ImageFile {
  /// Reads a whole file (at most `limits.maxFileBytes` bytes).
  ///
  /// - Throws: ``ImageError`` naming `path`: ``ImageError/Kind/unreadable`` if it cannot be opened or
  ///   read, ``ImageError/Kind/tooLarge`` if it exceeds the limit.
  public static func readBytes(atPath path: String, limits: ImageLimits = .standard) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw failure(path, .unreadable, "cannot open", errno) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw failure(path, .unreadable, "cannot stat", errno) }
    if (info.st_mode & S_IFMT) == S_IFDIR {
      throw ImageError(source: path, kind: .unreadable, detail: "is a directory, not a file")
    }
    let limit = max(limits.maxFileBytes, 0)
    if Int64(info.st_size) > Int64(limit) {
      throw ImageError(
        source: path, kind: .tooLarge, detail: "file too large (\(info.st_size) bytes; limit is \(limit))")
    }
    var bytes = [UInt8]()
    bytes.reserveCapacity(Int(max(info.st_size, 0)))
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        throw failure(path, .unreadable, "read error", errno)
      }
      if count == 0 { break }
      if bytes.count + count > limit {
        throw ImageError(
          source: path, kind: .tooLarge, detail: "file too large (more than \(limit) bytes)")
      }
      bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
  }

  /// Reads a PNG file's header, validating the signature, IHDR and the chunks before the image data
  /// (the pixels are not decoded).
  ///
  /// - Throws: ``ImageError`` naming `path` (see ``PNGCodec/readHeader(_:name:limits:)``).
  public static func readPNGHeader(atPath path: String, limits: ImageLimits = .standard) throws -> PNGHeader {
    try PNGCodec.readHeader(readBytes(atPath: path, limits: limits), name: path, limits: limits)
  }

  /// Reads and decodes a PNG file into a luminance image on the 0...255 scale.
  ///
  /// - Parameters:
  ///   - path: The file to read; also the name used in error messages.
  ///   - limits: File size and image dimension limits, checked before allocating the image.
  ///   - alphaBackground: The gray level transparent pixels are composited over (default black).
  /// - Throws: ``ImageError`` naming `path` (see ``PNGCodec/decode(_:name:limits:alphaBackground:)``).
  public static func readPNG(
    atPath path: String, limits: ImageLimits = .standard, alphaBackground: Float = 0
  ) throws -> GrayImage {
    try PNGCodec.decode(
      readBytes(atPath: path, limits: limits), name: path, limits: limits, alphaBackground: alphaBackground)
  }

  /// Reads a PNG file and prepares the `size x size` white-on-black model input.
  ///
  /// Equivalent to ``PNGCodec/decodeSamples(_:name:limits:)`` followed by
  /// ``DecodedPNG/digitInput(name:mode:polarity:alpha:size:)``.
  /// - Throws: ``ImageError`` naming `path` (``ImageError/Kind/noDigit`` for a blank image).
  public static func readDigit(
    atPath path: String, mode: DigitPreprocessing = .mnist, polarity: Polarity = .auto,
    alpha: AlphaHandling = .auto, size: Int = 28, limits: ImageLimits = .standard
  ) throws -> GrayImage {
    try PNGCodec.decodeSamples(readBytes(atPath: path, limits: limits), name: path, limits: limits)
      .digitInput(name: path, mode: mode, polarity: polarity, alpha: alpha, size: size)
  }

  /// Writes an image as an 8-bit grayscale PNG, atomically: the data goes to a temporary file in the same
  /// directory, is flushed to disk, and is then renamed over `path`. On failure `path` is untouched.
  ///
  /// Pixels are rounded and clamped to 0...255 (see ``GrayImage/bytes``).
  /// - Throws: ``ImageError`` naming `path` (``ImageError/Kind/unwritable`` for file system errors).
  public static func writePNG(_ image: GrayImage, toPath path: String, interlaced: Bool = false) throws {
    let data = try PNGCodec.encodeGray8(image, interlaced: interlaced, name: path)
    try writeAtomically(data, toPath: path)
  }

  /// Writes bytes to `path` via a temporary file in the same directory and a rename.
  static func writeAtomically(_ data: [UInt8], toPath path: String) throws {
    let directory: String
    let base: String
    if let slash = path.lastIndex(of: "/") {
      directory = slash == path.startIndex ? "/" : String(path[..<slash])
      base = String(path[path.index(after: slash)...])
    } else {
      directory = "."
      base = path
    }
    guard !base.isEmpty else {
      throw ImageError(source: path, kind: .unwritable, detail: "not a file path (ends with '/')")
    }
    let separator = directory.hasSuffix("/") ? "" : "/"
    var temporary = ""
    var fd: Int32 = -1
    for _ in 0..<16 {
      let token = String(UInt64.random(in: 0...UInt64.max), radix: 36)
      temporary = "\(directory)\(separator).\(base).\(getpid()).\(token).tmp"
      fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
      if fd >= 0 || errno != EEXIST { break }
    }
    guard fd >= 0 else { throw failure(path, .unwritable, "cannot create temporary file", errno) }
    var completed = false
    defer {
      if !completed { unlink(temporary) }
    }
    var written = 0
    var writeError: Int32 = 0
    data.withUnsafeBytes { raw in
      while written < raw.count {
        let count = write(fd, raw.baseAddress?.advanced(by: written), raw.count - written)
        if count < 0 {
          if errno == EINTR { continue }
          writeError = errno
          return
        }
        written += count
      }
    }
    if writeError == 0 && fsync(fd) != 0 { writeError = errno }
    if close(fd) != 0 && writeError == 0 { writeError = errno }
    if writeError != 0 { throw failure(path, .unwritable, "write error", writeError) }
    guard rename(temporary, path) == 0 else {
      throw failure(path, .unwritable, "cannot rename temporary file into place", errno)
    }
    completed = true
  }

  private static func failure(_ path: String, _ kind: ImageError.Kind, _ what: String, _ code: Int32)
    -> ImageError
  {
    let reason = strerror(code).map { String(cString: $0) } ?? "error \(code)"
    return ImageError(source: path, kind: kind, detail: "\(what) (\(reason))")
  }
}
