internal import CPNGSupport
import CapsFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Reading PNG files from disk and writing them atomically.
///
/// Files are opened with ``CapsFiles/ReadableFile``: only a regular file is read (a FIFO, a device
/// such as `/dev/zero`, a socket or a directory is refused before a byte is read, with an
/// ``ImageError/Kind/notRegularFile`` error naming what it is). PNG files are decoded as a stream: the
/// file is read in 64 KiB pieces up to the end of the PNG data (bytes after IEND are never read) and
/// decoded one row at a time into the luminance image, so memory is the image's `width * height`
/// floats plus one row, whatever the file's size, colour type or bit depth.
public enum ImageFile {
  /// Reads a whole file (at most `limits.maxFileBytes` bytes), as large as it was when opened
  /// (``CapsFiles/RandomAccessFile``: positioned reads, EINTR retried).
  ///
  /// - Throws: ``ImageError`` naming `path`: ``ImageError/Kind/notFound``,
  ///   ``ImageError/Kind/notRegularFile`` or ``ImageError/Kind/io(errno:)`` if it cannot be opened
  ///   or read, ``ImageError/Kind/limitExceeded`` if it exceeds the limit.
  public static func readBytes(atPath path: String, limits: ImageLimits = .standard) throws -> [UInt8] {
    let file = try RandomAccessFile(path: path) {
      ImageError(source: path, kind: $0.errorKind, detail: $0.description)
    }
    let limit = max(limits.maxFileBytes, 0)
    guard file.byteCount <= limit else {
      throw ImageError(
        source: path, kind: .limitExceeded,
        detail: "file too large (\(file.byteCount) bytes; limit is \(limit))")
    }
    return try file.bytes(at: 0, count: file.byteCount)
  }

  /// Reads a PNG file's header, validating the signature, IHDR and the chunks before the image data
  /// (the pixels are not decoded, and the file is read only up to its first IDAT chunk).
  ///
  /// - Throws: ``ImageError`` naming `path` (see ``PNGCodec/readHeader(_:name:limits:)``).
  public static func readPNGHeader(atPath path: String, limits: ImageLimits = .standard) throws -> PNGHeader {
    var header = cps_png_header()
    try streaming(path, limits: limits) { source, cLimits, text, capacity in
      cps_png_read_header_from(&source, &cLimits, &header, text, capacity)
    }
    return try PNGCodec.swiftHeader(header, name: path)
  }

  /// Reads and decodes a PNG file into a luminance image on the 0...255 scale, streaming (see
  /// ``ImageFile``): the same pixels as ``PNGCodec/decode(_:name:limits:alphaBackground:)`` on the
  /// file's bytes, whose conversion is applied to each decoded row.
  ///
  /// - Parameters:
  ///   - path: The file to read; also the name used in error messages.
  ///   - limits: File size and image dimension limits, checked before allocating the image.
  ///   - alphaBackground: The gray level transparent pixels are composited over (default black).
  /// - Throws: ``ImageError`` naming `path` (see ``PNGCodec/decode(_:name:limits:alphaBackground:)``).
  public static func readPNG(
    atPath path: String, limits: ImageLimits = .standard, alphaBackground: Float = 0
  ) throws -> GrayImage {
    let file = try open(path, limits: limits)
    defer { close(file.descriptor) }
    var source = cps_png_source(
      data: nil, size: 0, fd: file.descriptor, max_bytes: UInt64(max(limits.maxFileBytes, 1)))
    let receiver = LuminanceRows(name: path, background: alphaBackground)
    var sink = cps_png_row_sink(
      context: Unmanaged.passUnretained(receiver).toOpaque(),
      begin: { context, layout in
        Unmanaged<LuminanceRows>.fromOpaque(context!).takeUnretainedValue().begin(layout!.pointee)
      },
      row: { context, y, xStart, xStep, count, samples in
        Unmanaged<LuminanceRows>.fromOpaque(context!).takeUnretainedValue().row(
          y: Int(y), xStart: Int(xStart), xStep: Int(xStep), count: Int(count), samples: samples!)
      })
    var layout = cps_png_layout()
    var cLimits = limits.cLimits
    var message = [CChar](repeating: 0, count: Int(CPS_PNG_MESSAGE_CAPACITY))
    let status = withExtendedLifetime(receiver) {
      message.withUnsafeMutableBufferPointer { text in
        cps_png_decode_rows(&source, &cLimits, &sink, &layout, text.baseAddress, text.count)
      }
    }
    if let failure = receiver.failure { throw failure }
    guard status == Int32(CPS_PNG_OK) else {
      throw decodingError(status, message, path, descriptor: file.descriptor)
    }
    return GrayImage(unchecked: receiver.width, receiver.height, receiver.pixels)
  }

  /// Reads a PNG file and prepares the `size x size` white-on-black model input.
  ///
  /// Equivalent to ``readSamples(atPath:limits:)`` followed by
  /// ``DecodedPNG/digitInput(name:mode:polarity:alpha:size:)``.
  /// - Throws: ``ImageError`` naming `path` (``ImageError/Kind/noDigit`` for a blank image).
  public static func readDigit(
    atPath path: String, mode: DigitPreprocessing = .mnist, polarity: Polarity = .auto,
    alpha: AlphaHandling = .auto, size: Int = 28, limits: ImageLimits = .standard
  ) throws -> GrayImage {
    try readSamples(atPath: path, limits: limits)
      .digitInput(name: path, mode: mode, polarity: polarity, alpha: alpha, size: size)
  }

  /// Reads and decodes a PNG file into its samples (every channel; see ``DecodedPNG``), streaming the
  /// file: memory is the decoded image, whatever follows the PNG data in the file.
  ///
  /// - Throws: ``ImageError`` naming `path` (see ``PNGCodec/decodeSamples(_:name:limits:)``).
  public static func readSamples(atPath path: String, limits: ImageLimits = .standard) throws -> DecodedPNG {
    var image = cps_png_image()
    do {
      try streaming(path, limits: limits) { source, cLimits, text, capacity in
        cps_png_decode_from(&source, &cLimits, &image, text, capacity)
      }
    } catch {
      cps_png_image_free(&image)
      throw error
    }
    return try DecodedPNG(taking: image, name: path)
  }

  /// Opens `path` (a regular file within the size limit), runs one libpng call on it as a streamed
  /// source, and throws the call's error naming `path`.
  private static func streaming(
    _ path: String, limits: ImageLimits,
    _ call: (inout cps_png_source, inout cps_png_limits, UnsafeMutablePointer<CChar>?, Int) -> Int32
  ) throws {
    let file = try open(path, limits: limits)
    defer { close(file.descriptor) }
    var source = cps_png_source(
      data: nil, size: 0, fd: file.descriptor, max_bytes: UInt64(max(limits.maxFileBytes, 1)))
    var cLimits = limits.cLimits
    var message = [CChar](repeating: 0, count: Int(CPS_PNG_MESSAGE_CAPACITY))
    let status = message.withUnsafeMutableBufferPointer { text in
      call(&source, &cLimits, text.baseAddress, text.count)
    }
    guard status == Int32(CPS_PNG_OK) else {
      throw decodingError(status, message, path, descriptor: file.descriptor)
    }
  }

  /// Writes an image as an 8-bit grayscale PNG, atomically (``CapsFiles/AtomicReplacement``): the
  /// data goes to a temporary file in the same directory, is flushed to disk, and is then renamed
  /// over `path`. On failure `path` is untouched. Without `overwrite`, an existing `path` is an
  /// error; with it, only a regular file is replaced.
  ///
  /// Pixels are rounded and clamped to 0...255 (see ``GrayImage/bytes``).
  /// - Throws: ``ImageError`` naming `path` (the kind of its ``CapsFiles/FileFailure`` for file system errors: ``ImageError/Kind/exists``, ``ImageError/Kind/io(errno:)``, ...).
  public static func writePNG(
    _ image: GrayImage, toPath path: String, interlaced: Bool = false, overwrite: Bool = true
  ) throws {
    let data = try PNGCodec.encodeGray8(image, interlaced: interlaced, name: path)
    try writeAtomically(data, toPath: path, overwrite: overwrite)
  }

  /// Writes bytes to `path` via a temporary file in the same directory and a rename.
  static func writeAtomically(_ data: [UInt8], toPath path: String, overwrite: Bool = true) throws {
    try AtomicReplacement.write(
      to: path, overwrite: overwrite, failure: { ImageError($0, path: path) },
      produce: { (temporary: String) throws(ImageError) in
        if let failure = AtomicReplacement.writeBytes(data, toNew: temporary) {
          throw ImageError(failure, path: path)
        }
      })
  }

  /// Opens a regular file, refusing other kinds and files over `limits.maxFileBytes`.
  private static func open(_ path: String, limits: ImageLimits) throws -> ReadableFile.Opened {
    let file: ReadableFile.Opened
    switch ReadableFile.open(path) {
    case .success(let opened): file = opened
    case .failure(let failure):
      throw ImageError(failure, path: path)
    }
    let limit = max(limits.maxFileBytes, 0)
    if file.byteCount > limit {
      close(file.descriptor)
      throw ImageError(
        source: path, kind: .limitExceeded,
        detail: "file too large (\(file.byteCount) bytes; limit is \(limit))")
    }
    return file
  }

  /// The error for a failed decode; a file that is not a PNG is named by its first bytes (read from
  /// `descriptor`) when they show another image format.
  private static func decodingError(_ status: Int32, _ message: [CChar], _ path: String, descriptor: Int32)
    -> ImageError
  {
    if status == Int32(CPS_PNG_ERR_NOT_PNG) {
      var prefix = [UInt8](repeating: 0, count: 16)
      let count = prefix.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
      return PNGCodec.error(status, message, path, Array(prefix.prefix(max(count, 0))))
    }
    guard status == Int32(CPS_PNG_ERR_READ) else { return PNGCodec.error(status, message, path) }
    let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return ImageError(source: path, kind: .io(errno: nil), detail: text)
  }
}

/// The receiver of ``ImageFile/readPNG(atPath:limits:alphaBackground:)``'s rows: each row (or
/// Adam7 pass row) of samples goes through ``PNGCodec``'s conversion as a one-row image and lands
/// in place in the luminance buffer; only that buffer is as large as the image.
private final class LuminanceRows {
  let name: String
  let background: Float
  var layout = cps_png_layout()
  var width = 0
  var height = 0
  var pixels: [Float] = []
  var failure: ImageError?

  init(name: String, background: Float) {
    self.name = name
    self.background = background
  }

  func begin(_ layout: cps_png_layout) -> Int32 {
    self.layout = layout
    width = Int(layout.header.width)
    height = Int(layout.header.height)
    pixels = [Float](repeating: 0, count: width * height)
    return Int32(CPS_PNG_OK)
  }

  func row(y: Int, xStart: Int, xStep: Int, count: Int, samples: UnsafePointer<UInt8>) -> Int32 {
    var header = layout.header
    header.width = UInt32(count)
    header.height = 1
    let rowBytes = count * Int(layout.channels) * Int(layout.sample_bits / 8)
    let one = cps_png_image(
      header: header, channels: layout.channels, sample_bits: layout.sample_bits, row_bytes: rowBytes,
      pixels: UnsafeMutablePointer(mutating: samples))
    do {
      let values = try PNGCodec.luminance(of: one, name: name, background: background).pixels
      pixels.withUnsafeMutableBufferPointer { out in
        var x = y * width + xStart
        for value in values {
          out[x] = value
          x += xStep
        }
      }
      return Int32(CPS_PNG_OK)
    } catch let error as ImageError {
      failure = error
    } catch {
      failure = ImageError(source: name, kind: .corrupt, detail: "\(error)")
    }
    return Int32(CPS_PNG_ERR_CORRUPT)
  }
}
