import Testing

@testable import CapsImage

/// The steps of `mnist` preprocessing that real-world files need (background, alpha, colour, specks,
/// blank images), on small synthetic PNGs written by the independent test encoder.
@Suite("Real-world preprocessing")
struct RealWorldPreprocessingTests {
  /// A 7-like stroke: a bar and a diagonal, in a `width x height` canvas, as coverage 0...1.
  static func stroke(width: Int = 120, height: Int = 100, left: Int = 40, top: Int = 20) -> [Float] {
    var coverage = [Float](repeating: 0, count: width * height)
    for y in top..<(top + 6) { for x in left..<(left + 40) { coverage[y * width + x] = 1 } }
    for t in 0..<50 {
      let x = left + 36 - t * 3 / 5
      let y = top + 6 + t
      for dx in 0..<6 { coverage[y * width + x + dx] = 1 }
    }
    return coverage
  }

  /// An 8-bit gray PNG of paper at `paper` (plus `gradient` across the width) with ink at `ink`.
  static func grayPNG(
    _ coverage: [Float], width: Int = 120, height: Int = 100, paper: Float = 230, ink: Float = 30,
    gradient: Float = 0, noise: Int = 0, seed: UInt64 = 1
  ) -> [UInt8] {
    var random = TestRandom(seed: seed)
    let samples = coverage.indices.map { i -> UInt16 in
      let x = Float(i % width) / Float(width - 1) - 0.5
      let background = paper + gradient * x
      let jitter = noise > 0 ? Float(random.next(below: 2 * noise + 1) - noise) : 0
      let value = background - coverage[i] * (background - ink) + jitter
      return UInt16(min(max(value.rounded(), 0), 255))
    }
    return TestPNG.make(width: width, height: height, bitDepth: 8, colorType: 0, samples: samples)
  }

  static func input(_ png: [UInt8], alpha: AlphaHandling = .auto, polarity: Polarity = .auto) throws
    -> GrayImage
  {
    try PNGCodec.decodeSamples(png, name: "t.png").digitInput(name: "t.png", polarity: polarity, alpha: alpha)
  }

  static func inkBox(_ image: GrayImage) -> [Int] {
    var box = [Int.max, Int.max, -1, -1]
    for y in 0..<image.height {
      for x in 0..<image.width where image[x, y] > 0 {
        box = [min(box[0], x), min(box[1], y), max(box[2], x), max(box[3], y)]
      }
    }
    return box
  }

  static func isNoDigit(_ error: any Error) -> Bool { (error as? ImageError)?.kind == .noDigit }

  @Test("dark ink on paper becomes white ink on 0, scaled to 255, framed in 20x20")
  func paper() throws {
    let out = try Self.input(Self.grayPNG(Self.stroke()))
    #expect(out.width == 28 && out.height == 28)
    let box = Self.inkBox(out)
    #expect(max(box[2] - box[0] + 1, box[3] - box[1] + 1) == 20)
    #expect(out.pixels.max() == 255)
    #expect(out[0, 0] == 0 && out[27, 27] == 0)
  }

  @Test("specks far from the digit change nothing")
  func specks() throws {
    var speckled = Self.stroke()
    for (x, y) in [(3, 3), (110, 90), (115, 10), (5, 95)] {
      speckled[y * 120 + x] = 1
      speckled[y * 120 + x + 1] = 1
    }
    let clean = try Self.input(Self.grayPNG(Self.stroke()))
    #expect(try Self.input(Self.grayPNG(speckled)) == clean)
  }

  @Test("a lighting gradient across the page does not move or widen the digit")
  func gradient() throws {
    let flat = try Self.input(Self.grayPNG(Self.stroke(), noise: 3))
    let lit = try Self.input(Self.grayPNG(Self.stroke(), gradient: 90, noise: 3))
    #expect(Self.inkBox(lit) == Self.inkBox(flat))
    let difference = zip(lit.pixels, flat.pixels).map { abs($0 - $1) }.max() ?? 0
    #expect(difference <= 40, "largest difference \(difference)")
  }

  @Test("a faint pencil digit (ink 120 on paper 200, noise) is found")
  func faint() throws {
    let out = try Self.input(Self.grayPNG(Self.stroke(), paper: 200, ink: 120, noise: 6))
    let box = Self.inkBox(out)
    #expect(max(box[2] - box[0] + 1, box[3] - box[1] + 1) == 20)
  }

  @Test("blank images are refused as 'no digit': uniform, noisy, lit, transparent")
  func blanks() throws {
    let empty = [Float](repeating: 0, count: 120 * 100)
    let transparent = TestPNG.make(
      width: 40, height: 40, bitDepth: 8, colorType: 6,
      samples: (0..<(40 * 40)).flatMap { _ in [255, 255, 255, 0] as [UInt16] })
    for png in [
      Self.grayPNG(empty), Self.grayPNG(empty, noise: 8), Self.grayPNG(empty, gradient: 120, noise: 4),
      transparent,
    ] {
      #expect(throws: ImageError.self) { try Self.input(png) }
      do { _ = try Self.input(png) } catch { #expect(Self.isNoDigit(error), "\(error)") }
    }
  }

  @Test("a transparent canvas: the alpha is the drawing, whatever colour transparent pixels store")
  func transparentCanvas() throws {
    let coverage = Self.stroke()
    func drawing(transparent: UInt16) -> [UInt8] {
      let samples = coverage.flatMap { c -> [UInt16] in
        let alpha = UInt16((c * 255).rounded())
        return alpha == 0 ? [transparent, transparent, transparent, 0] : [10, 10, 10, alpha]
      }
      return TestPNG.make(width: 120, height: 100, bitDepth: 8, colorType: 6, samples: samples)
    }
    let onBlack = try Self.input(drawing(transparent: 0))
    #expect(try Self.input(drawing(transparent: 255)) == onBlack)
    #expect(Self.inkBox(onBlack) == Self.inkBox(try Self.input(Self.grayPNG(coverage))))
    // Composited over black, black ink disappears: nothing is left to classify.
    #expect(throws: ImageError.self) { try Self.input(drawing(transparent: 0), alpha: .overBlack) }
    #expect(Self.inkBox(try Self.input(drawing(transparent: 0), alpha: .overWhite)) == Self.inkBox(onBlack))
  }

  @Test("blue ink on yellow paper keeps the digit")
  func colour() throws {
    let coverage = Self.stroke()
    let paper: [Float] = [240, 228, 160]
    let ink: [Float] = [50, 70, 190]
    let samples = coverage.flatMap { c in
      (0..<3).map { UInt16((paper[$0] - c * (paper[$0] - ink[$0])).rounded()) }
    }
    let png = TestPNG.make(width: 120, height: 100, bitDepth: 8, colorType: 2, samples: samples)
    #expect(Self.inkBox(try Self.input(png)) == Self.inkBox(try Self.input(Self.grayPNG(coverage))))
  }

  @Test("files in other image formats are named")
  func otherFormats() throws {
    let cases: [([UInt8], String)] = [
      ([0xFF, 0xD8, 0xFF, 0xE1, 0, 0], "JPEG file, not PNG"),
      (Array("GIF87a".utf8) + [0, 0], "GIF file, not PNG"),
      (Array("BM".utf8) + [UInt8](repeating: 0, count: 14), "BMP file, not PNG"),
      ([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0], "TIFF file, not PNG"),
      ([0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8], "TIFF file, not PNG"),
      (Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBPVP8 ".utf8), "WebP file, not PNG"),
      (Array("hello, world".utf8), "not a PNG file (bad signature)"),
    ]
    for (data, detail) in cases {
      #expect(throws: ImageError(source: "x.png", kind: .wrongFormat, detail: detail)) {
        try PNGCodec.decode(data, name: "x.png")
      }
    }
  }
}
