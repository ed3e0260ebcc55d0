import Testing

@testable import CapsImage

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

@Suite("PNG encoding and files")
struct PNGEncodingTests {
  static func randomImage(width: Int, height: Int, seed: UInt64) throws -> GrayImage {
    var random = TestRandom(seed: seed)
    return try GrayImage(
      width: width, height: height,
      bytes: (0..<(width * height)).map { _ in
        UInt8(random.next(below: 256))
      })
  }

  /// A fresh empty directory under /tmp.
  static func temporaryDirectory() throws -> String {
    var template = Array("/tmp/capsimage-test-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
      guard let base = buffer.baseAddress else { return false }
      return mkdtemp(base) != nil
    }
    try #require(made)
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  static func listing(_ directory: String) -> [String] {
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
  }

  @Test("gray8 round trip, progressive and interlaced", arguments: [false, true])
  func roundTrip(interlaced: Bool) throws {
    for (w, h, seed) in [(1, 1, 1), (28, 28, 2), (31, 7, 3), (5, 40, 4)] as [(Int, Int, UInt64)] {
      let image = try Self.randomImage(width: w, height: h, seed: seed)
      let png = try PNGCodec.encodeGray8(image, interlaced: interlaced)
      #expect(Array(png.prefix(8)) == TestPNG.signature)
      let header = try PNGCodec.readHeader(png, name: "r.png")
      #expect(header.width == w && header.height == h && header.bitDepth == 8)
      #expect(header.colorType == .gray && header.isInterlaced == interlaced)
      #expect(try PNGCodec.decode(png, name: "r.png") == image)
    }
  }

  @Test("encoding rounds and clamps")
  func rounding() throws {
    let image = try GrayImage(width: 6, height: 1, pixels: [-3, 0.49, 0.5, 254.5, 300, .nan])
    #expect(image.bytes == [0, 0, 1, 255, 255, 0])
    let decoded = try PNGCodec.decode(PNGCodec.encodeGray8(image), name: "c.png")
    #expect(decoded.pixels == [0, 0, 1, 255, 255, 0])
  }

  @Test("atomic write to a file, then read back")
  func writeFile() throws {
    let directory = try Self.temporaryDirectory()
    defer {
      for name in Self.listing(directory) { unlink("\(directory)/\(name)") }
      rmdir(directory)
    }
    let path = "\(directory)/out.png"
    let first = try Self.randomImage(width: 28, height: 28, seed: 9)
    try ImageFile.writePNG(first, toPath: path)
    #expect(try ImageFile.readPNG(atPath: path) == first)
    let second = try Self.randomImage(width: 10, height: 12, seed: 10)
    try ImageFile.writePNG(second, toPath: path, interlaced: true)
    #expect(try ImageFile.readPNG(atPath: path) == second)
    #expect(try ImageFile.readPNGHeader(atPath: path).isInterlaced)
    #expect(Self.listing(directory) == ["out.png"])
    // Random noise holds no digit: refused, not classified.
    #expect {
      try ImageFile.readDigit(atPath: path, mode: .scale)
    } throws: { ($0 as? ImageError)?.kind == .noDigit }
    #expect(try ImageFile.readDigit(atPath: path, mode: .scale, polarity: .keep).width == 28)

    let missingDirectory = "\(directory)/missing/out.png"
    #expect(throws: ImageError.self) { try ImageFile.writePNG(first, toPath: missingDirectory) }
    do {
      try ImageFile.writePNG(first, toPath: missingDirectory)
    } catch let error as ImageError {
      #expect(error.kind == .notFound)
      #expect(
        error.description == "\(missingDirectory): the folder \(directory)/missing does not exist")
    }
    #expect(Self.listing(directory) == ["out.png"])
  }

  @Test("unreadable files")
  func unreadable() throws {
    do {
      _ = try ImageFile.readPNG(atPath: "/nonexistent/dir/x.png")
      Issue.record("expected an error")
    } catch let error as ImageError {
      #expect(error.kind == .notFound)
      #expect(error.description == "/nonexistent/dir/x.png: cannot open (No such file or directory)")
    }
    do {
      _ = try ImageFile.readPNG(atPath: "/tmp")
      Issue.record("expected an error")
    } catch let error as ImageError {
      #expect(error.kind == .notRegularFile)
      #expect(error.description == "/tmp: is a directory, not a regular file")
    }

    let directory = try Self.temporaryDirectory()
    let path = "\(directory)/text.png"
    defer {
      unlink(path)
      rmdir(directory)
    }
    try ImageFile.writeAtomically(Array("not an image".utf8), toPath: path)
    #expect(throws: ImageError(source: path, kind: .wrongFormat, detail: "not a PNG file (bad signature)")) {
      try ImageFile.readPNG(atPath: path)
    }
    #expect(
      throws: ImageError(source: path, kind: .limitExceeded, detail: "file too large (12 bytes; limit is 5)")
    ) {
      try ImageFile.readPNG(atPath: path, limits: ImageLimits(maxFileBytes: 5))
    }
  }

  @Test("GrayImage validates its arguments")
  func grayImageInit() throws {
    #expect(
      throws: ImageError(source: "image", kind: .invalidArgument, detail: "3 pixels given for a 2x2 image")
    ) {
      try GrayImage(width: 2, height: 2, pixels: [1, 2, 3])
    }
    #expect(throws: ImageError.self) { try GrayImage(width: 0, height: 2, pixels: []) }
    #expect(throws: ImageError.self) { try GrayImage(width: -1, height: 2, repeating: 0) }
    var image = try GrayImage(width: 3, height: 2, repeating: 5)
    image[2, 1] = 9
    #expect(image.pixels == [5, 5, 5, 5, 5, 9])
  }
}
