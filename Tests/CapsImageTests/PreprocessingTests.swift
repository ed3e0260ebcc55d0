import Testing

@testable import CapsImage

@Suite("Digit preprocessing")
struct PreprocessingTests {
  /// A 28x28 white-on-black test digit: a thick ring with graded values, all different from 0...255.
  static func digit() throws -> GrayImage {
    var pixels = [Float](repeating: 0, count: 28 * 28)
    for y in 0..<28 {
      for x in 0..<28 {
        let dx = Double(x) - 13.5
        let dy = Double(y) - 12
        let r = (dx * dx / 36 + dy * dy / 64).squareRoot()
        if r > 0.7 && r < 1.2 { pixels[y * 28 + x] = Float((x * 7 + y * 3) % 200 + 56) }
      }
    }
    return try GrayImage(width: 28, height: 28, pixels: pixels)
  }

  static func enlarged(_ image: GrayImage, by factor: Int) throws -> GrayImage {
    var pixels: [Float] = []
    for y in 0..<(image.height * factor) {
      for x in 0..<(image.width * factor) { pixels.append(image[x / factor, y / factor]) }
    }
    return try GrayImage(width: image.width * factor, height: image.height * factor, pixels: pixels)
  }

  @Test("a 28x28 image is used as is in every mode")
  func passThrough() throws {
    let digit = try Self.digit()
    for mode in DigitPreprocessing.allCases {
      #expect(try digit.digitInput(name: "d.png", mode: mode) == digit)
    }
    // Polarity still applies.
    #expect(try digit.digitInput(name: "d.png", mode: .none, polarity: .invert) == digit.inverted())
  }

  @Test("scale mode undoes integer nearest-neighbour enlargements exactly", arguments: [2, 3, 5])
  func scaleExact(factor: Int) throws {
    let digit = try Self.digit()
    let big = try Self.enlarged(digit, by: factor)
    #expect(try big.digitInput(name: "big.png", mode: .scale) == digit)
    // Also through a PNG round trip (8-bit values survive exactly).
    let decoded = try PNGCodec.decode(PNGCodec.encodeGray8(big), name: "big.png")
    #expect(try decoded.digitInput(name: "big.png", mode: .scale) == digit)
  }

  @Test("area averaging weights partial pixels")
  func areaAverage() throws {
    let image = try GrayImage(width: 3, height: 1, pixels: [0, 90, 180])
    // Each output pixel covers 1.5 input pixels.
    let half = try image.resampled(width: 2, height: 1)
    #expect(half.pixels == [30, 150])
    let up = try image.resampled(width: 6, height: 2)
    #expect(up.pixels == [0, 0, 90, 90, 180, 180, 0, 0, 90, 90, 180, 180])
    let mean = try image.resampled(width: 1, height: 1)
    #expect(mean.pixels == [90])
    #expect(throws: ImageError.self) { try image.resampled(width: 0, height: 1) }
  }

  @Test("none mode refuses other sizes")
  func noneMode() throws {
    let image = try GrayImage(width: 56, height: 40, repeating: 0)
    #expect(
      throws: ImageError(
        source: "d/x.png", kind: .unsupportedSize,
        detail: "image is 56x40, expected 28x28 (preprocessing 'none')")
    ) { try image.digitInput(name: "d/x.png", mode: .none) }
    #expect(throws: ImageError.self) { try image.digitInput(name: "d/x.png", size: 0) }
    let square = try GrayImage(width: 56, height: 56, repeating: 3)
    #expect(try square.digitInput(name: "d/x.png", mode: .none, size: 56) == square)
  }

  @Test("polarity detection from the border mean")
  func polarity() throws {
    var light = try GrayImage(width: 10, height: 8, repeating: 255)
    for y in 2..<6 { for x in 3..<7 { light[x, y] = 0 } }
    #expect(light.isDarkOnLight)
    #expect(light.applying(.auto) == light.inverted())
    #expect(light.applying(.keep) == light)
    #expect(light.inverted()[4, 3] == 255 && light.inverted()[0, 0] == 0)

    let dark = light.inverted()
    #expect(!dark.isDarkOnLight)
    #expect(dark.applying(.auto) == dark)
    #expect(dark.applying(.invert) == light)

    // Border mean exactly 127.5 is not "light"; just above is.
    var edge = try GrayImage(width: 2, height: 1, pixels: [127, 128])
    #expect(!edge.isDarkOnLight)
    edge[0, 0] = 127.2
    #expect(edge.isDarkOnLight)
    // Interior pixels do not count.
    var framed = try GrayImage(width: 5, height: 5, repeating: 255)
    for y in 0..<5 { for x in 0..<5 where x == 0 || y == 0 || x == 4 || y == 4 { framed[x, y] = 100 } }
    #expect(!framed.isDarkOnLight)
  }

  @Test("mnist mode: crop, fit 20x20 keeping aspect, centre of mass at (14, 14)")
  func mnistRectangle() throws {
    var image = try GrayImage(width: 100, height: 60, repeating: 0)
    for y in 20..<40 { for x in 30..<70 { image[x, y] = 255 } }
    let out = try image.digitInput(name: "r.png")
    #expect(out.width == 28 && out.height == 28)
    // 40x20 -> 20x10; centre of mass (9.5, 4.5) -> offsets round(4.5) = 5, round(9.5) = 10.
    for y in 0..<28 {
      for x in 0..<28 {
        let inside = (5..<25).contains(x) && (10..<20).contains(y)
        #expect(out[x, y] == (inside ? 255 : 0), "(\(x), \(y))")
      }
    }
  }

  @Test("mnist mode on a dark-on-light image inverts first")
  func mnistDarkOnLight() throws {
    var image = try GrayImage(width: 50, height: 50, repeating: 255)
    for y in 5..<15 { for x in 30..<35 { image[x, y] = 0 } }
    let out = try image.digitInput(name: "d.png")
    // 5x10 ink -> 10x20 box; centre (4.5, 9.5) -> left round(9.5) = 10, top round(4.5) = 5.
    var expected = try GrayImage(width: 28, height: 28, repeating: 0)
    for y in 5..<25 { for x in 10..<20 { expected[x, y] = 255 } }
    #expect(out == expected)
    // Keeping polarity: everything but the square is ink, so the box is the whole image.
    let kept = try image.digitInput(name: "d.png", polarity: .keep)
    // The 20x20 box has a hole at box (12..<15, 2..<7); centre of mass (9.44, 9.62) -> offsets 5 and 4.
    for y in 0..<28 {
      for x in 0..<28 {
        let inBox = (5..<25).contains(x) && (4..<24).contains(y)
        let inHole = (17..<20).contains(x) && (6..<11).contains(y)
        if !inBox { #expect(kept[x, y] == 0) }
        if inBox && !inHole { #expect(kept[x, y] == 255) }
      }
    }
    #expect(kept[18, 8] == 0)
  }

  @Test("mnist mode clamps the placement inside the frame")
  func mnistClamp() throws {
    // An L: top row and left column of a 40x40 area, 2 pixels thick.
    var image = try GrayImage(width: 60, height: 60, repeating: 0)
    for i in 10..<50 {
      for t in 10..<12 {
        image[i, t] = 255
        image[t, i] = 255
      }
    }
    let out = try image.digitInput(name: "l.png")
    // Box is 20x20 with a 1-pixel L; its centre of mass (~4.9) would put it at offset 9, clamped to 8.
    for i in 0..<20 {
      #expect(out[8 + i, 8] == 255)
      #expect(out[8, 8 + i] == 255)
    }
    #expect(out[9, 9] == 0)
    #expect(out.pixels.reduce(0, +) == 39 * 255)
  }

  @Test("mnist mode: blank input gives a blank frame; other sizes supported")
  func mnistBlankAndSize() throws {
    let blank = try GrayImage(width: 40, height: 30, repeating: 0)
    #expect(try blank.digitInput(name: "b.png").pixels == [Float](repeating: 0, count: 784))
    var dot = try GrayImage(width: 3, height: 3, repeating: 0)
    dot[1, 1] = 200
    let small = try dot.digitInput(name: "dot.png", size: 14)
    // 1x1 ink -> 10x10 box (round(14 * 20 / 28) = 10), centre 4.5 -> offset round(2.5) = 3.
    #expect(small.width == 14)
    for y in 0..<14 {
      for x in 0..<14 {
        #expect(small[x, y] == ((3..<13).contains(x) && (3..<13).contains(y) ? 200 : 0))
      }
    }
  }

  @Test("mnist mode on an enlarged, shifted digit reproduces the geometry of MNIST framing")
  func mnistDigit() throws {
    let digit = try Self.digit()
    var canvas = try GrayImage(width: 90, height: 70, repeating: 0)
    let big = try Self.enlarged(digit, by: 2)
    for y in 0..<56 { for x in 0..<56 { canvas[x + 30, y + 7] = big[x, y] } }
    let out = try canvas.digitInput(name: "c.png")
    // Ink bounding box of the output fits 20x20 with the longer side exactly 20.
    var minX = 28
    var maxX = -1
    var minY = 28
    var maxY = -1
    var mass = 0.0
    var cx = 0.0
    var cy = 0.0
    for y in 0..<28 {
      for x in 0..<28 where out[x, y] > 0 {
        minX = min(minX, x)
        maxX = max(maxX, x)
        minY = min(minY, y)
        maxY = max(maxY, y)
        mass += Double(out[x, y])
        cx += Double(out[x, y]) * Double(x)
        cy += Double(out[x, y]) * Double(y)
      }
    }
    #expect(max(maxX - minX + 1, maxY - minY + 1) == 20)
    #expect(abs(cx / mass - 14) <= 0.5)
    #expect(abs(cy / mass - 14) <= 0.5)
  }
}
