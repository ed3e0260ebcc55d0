import Testing

@testable import CapsImage

@Suite("PNG decoding")
struct PNGDecodingTests {
  /// Integer luminance used by the decoder, recomputed here.
  static func luma(_ r: Int, _ g: Int, _ b: Int) -> Int { (299 * r + 587 * g + 114 * b + 500) / 1000 }

  @Test("gray at every bit depth scales exactly", arguments: [1, 2, 4, 8])
  func grayLowDepths(bitDepth: Int) throws {
    let levels = 1 << bitDepth
    let scale = 255 / (levels - 1)
    // 2 rows: ascending and descending levels, odd width to exercise row padding.
    let width = levels + 1
    var samples: [UInt16] = []
    for x in 0..<width { samples.append(UInt16(x % levels)) }
    for x in 0..<width { samples.append(UInt16((levels - 1) - x % levels)) }
    for interlaced in [false, true] {
      let png = TestPNG.make(
        width: width, height: 2, bitDepth: bitDepth, colorType: 0, samples: samples, interlaced: interlaced)
      let image = try PNGCodec.decode(png, name: "g.png")
      #expect(image.width == width && image.height == 2)
      #expect(image.pixels == samples.map { Float(Int($0) * scale) })
    }
  }

  @Test("16-bit gray maps to v/257, and v8*257 to exactly v8")
  func gray16() throws {
    let values: [UInt16] = [0, 1, 256, 257, 12345, 32768, 65534, 65535] + (0...255).map { UInt16($0) * 257 }
    let png = TestPNG.make(width: values.count, height: 1, bitDepth: 16, colorType: 0, samples: values)
    let image = try PNGCodec.decode(png, name: "g16.png")
    #expect(image.pixels == values.map { Float($0) / 257 })
    #expect(Array(image.pixels[8...]) == (0...255).map { Float($0) })
    #expect(image.pixels[7] == 255)
  }

  @Test("RGB: R=G=B is exact, colours use integer luminance", arguments: [false, true])
  func rgb8(interlaced: Bool) throws {
    let colours: [(Int, Int, Int)] = [
      (0, 0, 0), (255, 255, 255), (17, 17, 17), (200, 200, 200), (255, 0, 0), (0, 255, 0), (0, 0, 255),
      (10, 200, 30), (1, 2, 3),
    ]
    let samples = colours.flatMap { [UInt16($0.0), UInt16($0.1), UInt16($0.2)] }
    let png = TestPNG.make(
      width: 3, height: 3, bitDepth: 8, colorType: 2, samples: samples, interlaced: interlaced)
    let image = try PNGCodec.decode(png, name: "rgb.png")
    #expect(image.pixels == [0, 255, 17, 200, 76, 150, 29, 124, 2])
    #expect(image.pixels == colours.map { Float(Self.luma($0.0, $0.1, $0.2)) })
  }

  @Test("16-bit RGB and RGBA")
  func rgb16() throws {
    let colours: [(Int, Int, Int)] = [
      (257 * 9, 257 * 9, 257 * 9), (65535, 0, 0), (1000, 2000, 3000), (5, 5, 5),
    ]
    let rgb = colours.flatMap { [UInt16($0.0), UInt16($0.1), UInt16($0.2)] }
    let png = TestPNG.make(width: 2, height: 2, bitDepth: 16, colorType: 2, samples: rgb)
    let image = try PNGCodec.decode(png, name: "rgb16.png")
    #expect(image.pixels[0] == 9)
    #expect(image.pixels[1] == Float(19595) / 257)
    #expect(image.pixels == colours.map { Float(Self.luma($0.0, $0.1, $0.2)) / 257 })

    let rgba = colours.enumerated().flatMap { i, c -> [UInt16] in
      [UInt16(c.0), UInt16(c.1), UInt16(c.2), [65535, 65535, 0, 32768][i]]
    }
    let pngA = TestPNG.make(width: 2, height: 2, bitDepth: 16, colorType: 6, samples: rgba, interlaced: true)
    let imageA = try PNGCodec.decode(pngA, name: "rgba16.png")
    #expect(imageA.pixels[0] == 9)
    #expect(imageA.pixels[1] == Float(19595) / 257)
    #expect(imageA.pixels[2] == 0)
    #expect(imageA.pixels[3] == Float(Double(Float(5) / 257) * 32768 / 65535))
  }

  @Test("alpha composites over black by default, over the given background otherwise")
  func grayAlpha() throws {
    let samples: [UInt16] = [200, 255, 200, 0, 200, 128, 0, 0, 255, 51]
    let png = TestPNG.make(width: 5, height: 1, bitDepth: 8, colorType: 4, samples: samples)
    let overBlack = try PNGCodec.decode(png, name: "ga.png")
    #expect(overBlack.pixels == [200, 0, Float(200.0 * 128 / 255), 0, 51])
    let overWhite = try PNGCodec.decode(png, name: "ga.png", alphaBackground: 255)
    #expect(overWhite.pixels == [200, 255, Float((200.0 * 128 + 255 * 127) / 255), 255, 255])

    let wide: [UInt16] = [257 * 40, 65535, 257 * 40, 0]
    let png16 = TestPNG.make(width: 2, height: 1, bitDepth: 16, colorType: 4, samples: wide)
    #expect(try PNGCodec.decode(png16, name: "ga16.png").pixels == [40, 0])
  }

  @Test("RGBA 8-bit")
  func rgba8() throws {
    let samples: [UInt16] = [90, 90, 90, 255, 255, 0, 0, 255, 255, 255, 255, 0, 100, 100, 100, 51]
    let png = TestPNG.make(width: 2, height: 2, bitDepth: 8, colorType: 6, samples: samples, interlaced: true)
    let image = try PNGCodec.decode(png, name: "rgba.png")
    #expect(image.pixels == [90, 76, 0, 20])
  }

  @Test("palette at every bit depth, with and without tRNS", arguments: [1, 2, 4, 8])
  func palette(bitDepth: Int) throws {
    let count = min(1 << bitDepth, 6)
    let entries: [(Int, Int, Int)] = [
      (0, 0, 0), (255, 255, 255), (128, 128, 128), (255, 0, 0), (3, 3, 3), (9, 8, 7),
    ]
    let plte = TestPNG.chunk(
      "PLTE", entries.prefix(count).flatMap { [UInt8($0.0), UInt8($0.1), UInt8($0.2)] })
    let indices: [UInt16] = (0..<9).map { UInt16($0 % count) }
    let expected = indices.map { i in
      Float(Self.luma(entries[Int(i)].0, entries[Int(i)].1, entries[Int(i)].2))
    }
    for interlaced in [false, true] {
      let png = TestPNG.make(
        width: 3, height: 3, bitDepth: bitDepth, colorType: 3, samples: indices, interlaced: interlaced,
        beforeIDAT: [plte])
      #expect(try PNGCodec.decode(png, name: "p.png").pixels == expected)

      // tRNS: entry 1 (white) fully transparent; later entries default to opaque.
      let trns = TestPNG.chunk("tRNS", [255, 0])
      let pngT = TestPNG.make(
        width: 3, height: 3, bitDepth: bitDepth, colorType: 3, samples: indices, interlaced: interlaced,
        beforeIDAT: [plte, trns])
      let header = try PNGCodec.readHeader(pngT, name: "p.png")
      #expect(header.colorType == .palette && header.hasTransparencyChunk && header.bitDepth == bitDepth)
      let decoded = try PNGCodec.decode(pngT, name: "p.png")
      #expect(decoded.pixels == zip(indices, expected).map { $0 == 1 ? 0 : $1 })
    }
  }

  @Test("tRNS on gray and RGB images marks one colour transparent")
  func simpleTransparency() throws {
    let gray: [UInt16] = [0, 1, 2, 3]
    let pngG = TestPNG.make(
      width: 4, height: 1, bitDepth: 2, colorType: 0, samples: gray,
      beforeIDAT: [TestPNG.chunk("tRNS", [0, 2])])
    #expect(try PNGCodec.decode(pngG, name: "g.png").pixels == [0, 85, 0, 255])
    #expect(try PNGCodec.decode(pngG, name: "g.png", alphaBackground: 7).pixels == [0, 85, 7, 255])

    let gray16: [UInt16] = [1000, 2570]
    let pngG16 = TestPNG.make(
      width: 2, height: 1, bitDepth: 16, colorType: 0, samples: gray16,
      beforeIDAT: [TestPNG.chunk("tRNS", [0x03, 0xe8])])
    #expect(try PNGCodec.decode(pngG16, name: "g16.png").pixels == [0, 10])

    let rgb: [UInt16] = [10, 20, 30, 10, 20, 31]
    let pngC = TestPNG.make(
      width: 2, height: 1, bitDepth: 8, colorType: 2, samples: rgb,
      beforeIDAT: [TestPNG.chunk("tRNS", [0, 10, 0, 20, 0, 30])])
    #expect(try PNGCodec.decode(pngC, name: "c.png").pixels == [0, Float(Self.luma(10, 20, 31))])
  }

  @Test("Adam7 on odd sizes decodes to the same pixels as progressive data")
  func interlacedMatches() throws {
    var random = TestRandom(seed: 7)
    for (width, height) in [(1, 1), (2, 3), (9, 5), (17, 13), (33, 8)] {
      let samples = (0..<(width * height)).map { _ in UInt16(random.next(below: 256)) }
      let plain = TestPNG.make(width: width, height: height, bitDepth: 8, colorType: 0, samples: samples)
      let adam7 = TestPNG.make(
        width: width, height: height, bitDepth: 8, colorType: 0, samples: samples, interlaced: true)
      let a = try PNGCodec.decode(plain, name: "plain.png")
      let b = try PNGCodec.decode(adam7, name: "adam7.png")
      #expect(a.pixels == samples.map { Float($0) })
      #expect(b == a)
      #expect(try PNGCodec.readHeader(adam7, name: "adam7.png").isInterlaced)
    }
  }

  @Test("header fields")
  func header() throws {
    let png = TestPNG.make(
      width: 3, height: 2, bitDepth: 16, colorType: 6, samples: [UInt16](repeating: 9, count: 24))
    let header = try PNGCodec.readHeader(png, name: "h.png")
    #expect(
      header
        == PNGHeader(
          width: 3, height: 2, bitDepth: 16, colorType: .rgba, isInterlaced: false,
          hasTransparencyChunk: false))
  }

  @Test("an oversized ancillary chunk is skipped, not fatal")
  func largeAncillaryChunk() throws {
    let text = TestPNG.chunk("tEXt", Array("Comment".utf8) + [0] + [UInt8](repeating: 65, count: 5000))
    let png = TestPNG.make(
      width: 2, height: 1, bitDepth: 8, colorType: 0, samples: [3, 4], beforeIDAT: [text])
    let limits = ImageLimits(maxChunkBytes: 1000)
    #expect(try PNGCodec.decode(png, name: "t.png", limits: limits).pixels == [3, 4])
  }
}
