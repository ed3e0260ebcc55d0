import Testing

@testable import CapsImage

@Suite("PNG errors")
struct PNGErrorTests {
  static let good = TestPNG.make(
    width: 4, height: 3, bitDepth: 8, colorType: 0, samples: (0..<12).map { UInt16($0 * 20) })

  func decodeError(_ data: [UInt8], name: String = "digits/x.png", limits: ImageLimits = .standard)
    -> ImageError?
  {
    do {
      _ = try PNGCodec.decode(data, name: name, limits: limits)
      return nil
    } catch let error as ImageError {
      return error
    } catch {
      return nil
    }
  }

  @Test("non-PNG data")
  func notPNG() throws {
    let error = try #require(decodeError(Array("hello, world, this is text".utf8)))
    #expect(error.kind == .wrongFormat)
    #expect(error.description == "digits/x.png: not a PNG file (bad signature)")
    let empty = try #require(decodeError([]))
    #expect(empty.description == "digits/x.png: not a PNG file (empty file)")
    #expect(throws: ImageError.self) { try PNGCodec.readHeader([0x42], name: "b") }
  }

  @Test("truncation at every length is a typed error")
  func truncatedEverywhere() throws {
    for length in 0..<Self.good.count {
      let error = try #require(decodeError(Array(Self.good.prefix(length))), "length \(length)")
      if length == 0 {
        #expect(error.kind == .wrongFormat)
      } else {
        #expect(error.kind == .truncated, "length \(length): \(error)")
        #expect(error.description.hasPrefix("digits/x.png: truncated file ("))
      }
    }
    #expect(
      decodeError(Array(Self.good.prefix(5)))?.description
        == "digits/x.png: truncated file (5 bytes, inside the PNG signature)")
    #expect(
      decodeError(Array(Self.good.prefix(20)))?.description
        == "digits/x.png: truncated file (20 bytes, inside the IHDR chunk)")
    #expect(
      decodeError(Array(Self.good.dropLast(12)))?.description
        == "digits/x.png: truncated file (unexpected end of data at byte \(Self.good.count - 12))")
    // Trailing bytes after IEND are ignored.
    #expect(try PNGCodec.decode(Self.good + [1, 2, 3], name: "t.png").pixels.count == 12)
  }

  @Test("bad CRCs in IHDR and IDAT")
  func badCRC() throws {
    var ihdr = Self.good
    ihdr[30] ^= 0xff
    #expect(decodeError(ihdr)?.description == "digits/x.png: corrupt PNG (IHDR: CRC error)")
    #expect(decodeError(ihdr)?.kind == .corrupt)

    var idat = Self.good
    idat[idat.count - 13] ^= 0x01  // last CRC byte of IDAT (IEND is 12 bytes)
    let error = try #require(decodeError(idat))
    #expect(error.kind == .corrupt)
    #expect(error.description == "digits/x.png: corrupt PNG (IDAT: CRC error)")
  }

  @Test("bad image data")
  func badData() throws {
    // Too few scanlines in a valid zlib stream.
    var file = TestPNG.signature + TestPNG.ihdr(width: 4, height: 3, bitDepth: 8, colorType: 0)
    file += TestPNG.chunk("IDAT", TestPNG.zlibStored([0, 1, 2, 3, 4]))
    file += TestPNG.chunk("IEND", [])
    let short = try #require(decodeError(file))
    #expect(short.kind == .corrupt)
    #expect(short.description.hasPrefix("digits/x.png: corrupt PNG ("))

    // Garbage instead of a zlib stream.
    var garbage = TestPNG.signature + TestPNG.ihdr(width: 4, height: 3, bitDepth: 8, colorType: 0)
    garbage += TestPNG.chunk("IDAT", [0xde, 0xad, 0xbe, 0xef, 0, 1, 2])
    garbage += TestPNG.chunk("IEND", [])
    #expect(decodeError(garbage)?.kind == .corrupt)

    // Invalid bit depth for RGB, and palette image without PLTE.
    let badDepth =
      TestPNG.signature + TestPNG.ihdr(width: 1, height: 1, bitDepth: 4, colorType: 2)
      + TestPNG.chunk("IEND", [])
    #expect(decodeError(badDepth)?.kind == .corrupt)
    let noPalette = TestPNG.make(width: 1, height: 1, bitDepth: 8, colorType: 3, samples: [0])
    #expect(decodeError(noPalette)?.kind == .corrupt)

    // First chunk is not IHDR.
    let noHeader = TestPNG.signature + TestPNG.chunk("IEND", []) + [UInt8](repeating: 0, count: 30)
    #expect(
      decodeError(noHeader)?.description == "digits/x.png: corrupt PNG (first chunk is not a 13-byte IHDR)")
  }

  @Test("zero width or height is refused")
  func zeroSize() throws {
    for (w, h) in [(0, 5), (5, 0), (0, 0)] {
      let file =
        TestPNG.signature + TestPNG.ihdr(width: UInt32(w), height: UInt32(h), bitDepth: 8, colorType: 0)
      let error = try #require(decodeError(file, name: "z.png"))
      #expect(error.kind == .zeroSize)
      #expect(
        error.description == "z.png: invalid image size \(w)x\(h) (width and height must be at least 1)")
      #expect(throws: error) { try PNGCodec.readHeader(file, name: "z.png") }
    }
  }

  @Test("huge dimensions are refused from IHDR alone, before allocating")
  func huge() throws {
    // Only the signature and IHDR: were the decoder to go further it would report truncation.
    let file = TestPNG.signature + TestPNG.ihdr(width: 100_000, height: 100_000, bitDepth: 16, colorType: 6)
    let error = try #require(decodeError(file, name: "big.png"))
    #expect(error.kind == .limitExceeded)
    #expect(
      error.description
        == "big.png: image too large (100000x100000; limits are 8192x8192 and 16777216 pixels)")
    #expect(throws: error) { try PNGCodec.readHeader(file, name: "big.png") }

    // Each limit on its own.
    let wide = TestPNG.signature + TestPNG.ihdr(width: 8193, height: 1, bitDepth: 8, colorType: 0)
    #expect(decodeError(wide)?.kind == .limitExceeded)
    let tall = TestPNG.signature + TestPNG.ihdr(width: 1, height: 8193, bitDepth: 8, colorType: 0)
    #expect(decodeError(tall)?.kind == .limitExceeded)
    let many = TestPNG.signature + TestPNG.ihdr(width: 4097, height: 4096, bitDepth: 8, colorType: 0)
    #expect(decodeError(many)?.kind == .limitExceeded)
    let maximal =
      TestPNG.signature + TestPNG.ihdr(width: 0x7fff_ffff, height: 0x7fff_ffff, bitDepth: 1, colorType: 0)
    #expect(decodeError(maximal)?.kind == .limitExceeded)
    let invalid = TestPNG.signature + TestPNG.ihdr(width: 0x8000_0000, height: 1, bitDepth: 8, colorType: 0)
    #expect(decodeError(invalid)?.kind == .corrupt)

    // Custom limits apply to otherwise valid files.
    let limits = ImageLimits(maxWidth: 3, maxHeight: 100, maxPixels: 100)
    let small = try #require(decodeError(Self.good, name: "s.png", limits: limits))
    #expect(small.description == "s.png: image too large (4x3; limits are 3x100 and 100 pixels)")
    #expect(
      try PNGCodec.decode(
        Self.good, name: "s.png", limits: ImageLimits(maxWidth: 4, maxHeight: 3, maxPixels: 12)
      )
      .width == 4)
    #expect(decodeError(Self.good, limits: ImageLimits(maxPixels: 11))?.kind == .limitExceeded)
  }

  @Test("random corruption never crashes")
  func fuzz() throws {
    var random = TestRandom(seed: 42)
    let sources = [
      Self.good,
      TestPNG.make(
        width: 9, height: 7, bitDepth: 4, colorType: 3, samples: (0..<63).map { UInt16($0 % 16) },
        interlaced: true, beforeIDAT: [TestPNG.chunk("PLTE", (0..<48).map { UInt8($0 * 5) })]),
      try PNGCodec.encodeGray8(GrayImage(width: 13, height: 11, repeating: 77), interlaced: true),
    ]
    var failures = 0
    for round in 0..<600 {
      var data = sources[round % sources.count]
      for _ in 0..<(1 + random.next(below: 4)) {
        data[random.next(below: data.count)] = UInt8(random.next(below: 256))
      }
      if random.next(below: 3) == 0 { data = Array(data.prefix(random.next(below: data.count))) }
      do {
        let image = try PNGCodec.decode(data, name: "f.png")
        #expect(image.pixels.count == image.width * image.height)
      } catch let error as ImageError {
        failures += 1
        #expect(error.description.hasPrefix("f.png: "))
        #expect(!error.description.contains("\n"))
      }
    }
    #expect(failures > 300)
  }
}
