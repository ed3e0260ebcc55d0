/// How transparent pixels are treated when a file becomes a digit (capsinfer's `--alpha`).
public enum AlphaHandling: String, CaseIterable, Equatable, Sendable {
  /// An image whose border is mostly transparent (a drawing on a transparent canvas) is read as
  /// ``ink``; an image with transparent pixels but an opaque border has them composited over the
  /// border's colour (they become background); an opaque image is unaffected.
  case auto
  /// The alpha channel is the drawing: ink strength is the opacity, whatever colour the pixels store.
  case ink
  /// Composite over black (what capsinfer did before; right for white ink on a transparent canvas).
  case overBlack = "over-black"
  /// Composite over white (dark ink on a transparent canvas, like most image viewers show it).
  case overWhite = "over-white"
}

/// How a decoded PNG's pixels (every channel and alpha) become one gray value each.
///
/// Colour pixels are composited according to ``AlphaHandling`` and then projected onto the line from
/// the background colour to the ink colour, both estimated from the image: the background is the
/// median colour of a frame around the border, the ink the mean colour of the 1% of pixels farthest
/// from it. Ink is thus the positive direction whatever its colour or polarity (blue ballpoint on
/// yellow paper keeps its full contrast, where luminance loses part of it), and the result is
/// 0 at the background colour, on the 0...255 scale of the image's samples (the root mean square over
/// the colour channels).
struct InkProjection {
  /// The composited colour of a pixel: (gray, 0, 0) for gray images, (r, g, b) otherwise.
  typealias Colour = SIMD3<Float>

  enum Compositing {
    /// No alpha channel, or every pixel opaque.
    case opaque
    /// The alpha channel is the drawing.
    case alphaIsInk
    /// Composited over this colour.
    case over(Colour)
  }

  let compositing: Compositing
  let background: Colour
  /// The direction from the background colour towards the ink colour, of length 1 for gray images and
  /// 1/sqrt(3) for colour ones (so values are on the scale of one channel); zero when the image is uniform.
  let direction: Colour

  /// Estimates compositing, background and ink direction from `png`.
  ///
  /// - Parameters:
  ///   - alpha: How transparency is treated.
  ///   - polarity: ``Polarity/invert`` forces dark ink (the projection's direction has a negative sum),
  ///     ``Polarity/keep`` forces light ink, ``Polarity/auto`` takes the estimate.
  init(_ png: DecodedPNG, alpha: AlphaHandling, polarity: Polarity) {
    let sampler = PixelSampler(png)
    let borderPixels = sampler.border()
    let compositing = Self.compositing(sampler, borderPixels, alpha: alpha)
    let background = Self.median(borderPixels.map { Self.colour($0, compositing) })
    var direction = Colour.zero
    if case .alphaIsInk = compositing {
      direction = Colour(1, 0, 0)
    } else {
      let samples = sampler.grid().map { Self.colour($0, compositing) - background }
      // Scaled so that a gray difference of d levels in every channel projects to d (the RMS over channels).
      direction = Self.inkDirection(samples) / (png.channels >= 3 ? Float(3).squareRoot() : 1)
      let sum = direction.x + (png.channels >= 3 ? direction.y + direction.z : 0)
      if (polarity == .invert && sum > 0) || (polarity == .keep && sum < 0) { direction = -direction }
    }
    self.compositing = compositing
    self.background = background
    self.direction = direction
  }

  /// The projected value of one pixel.
  @inline(__always)
  func value(_ pixel: PixelSampler.Pixel) -> Float {
    let c = Self.colour(pixel, compositing) - background
    return (c * direction).sum()
  }

  static func colour(_ pixel: PixelSampler.Pixel, _ compositing: Compositing) -> Colour {
    switch compositing {
    case .opaque: return pixel.colour
    case .alphaIsInk: return Colour(pixel.alpha, 0, 0)
    case .over(let under):
      let a = pixel.alpha / 255
      return pixel.colour * a + under * (1 - a)
    }
  }

  /// How `png`'s transparency is treated under `alpha` (see ``AlphaHandling``).
  static func compositing(of png: DecodedPNG, alpha: AlphaHandling) -> Compositing {
    let sampler = PixelSampler(png)
    return compositing(sampler, png.hasAlpha && alpha == .auto ? sampler.border() : [], alpha: alpha)
  }

  private static func compositing(
    _ sampler: PixelSampler, _ border: [PixelSampler.Pixel], alpha: AlphaHandling
  )
    -> Compositing
  {
    guard sampler.png.hasAlpha else { return .opaque }
    switch alpha {
    case .ink: return .alphaIsInk
    case .overBlack: return .over(.zero)
    case .overWhite: return .over(sampler.png.channels >= 3 ? Colour(255, 255, 255) : Colour(255, 0, 0))
    case .auto:
      let transparent = border.filter { $0.alpha < 127.5 }.count
      if transparent * 2 > border.count { return .alphaIsInk }
      guard sampler.grid().contains(where: { $0.alpha < 255 }) else { return .opaque }
      return .over(median(border.filter { $0.alpha >= 127.5 }.map(\.colour)))
    }
  }

  /// The per-lane median.
  static func median(_ colours: [Colour]) -> Colour {
    guard !colours.isEmpty else { return .zero }
    var result = Colour.zero
    for lane in 0..<3 {
      var values = colours.map { $0[lane] }
      values.sort()
      result[lane] = values[values.count / 2]
    }
    return result
  }

  /// The unit vector towards the mean of the 1% of samples farthest from the background (the origin).
  private static func inkDirection(_ samples: [Colour]) -> Colour {
    guard !samples.isEmpty else { return .zero }
    var distances = samples.map { ($0 * $0).sum() }
    distances.sort()
    let cut = distances[min(distances.count - 1, distances.count * 99 / 100)]
    var sum = Colour.zero
    var count: Float = 0
    for s in samples where (s * s).sum() >= cut {
      sum += s
      count += 1
    }
    let mean = sum / max(count, 1)
    let length = (mean * mean).sum().squareRoot()
    return length > 1e-3 ? mean / length : .zero
  }
}

/// Reads pixels of a decoded PNG as colour + alpha on the 0...255 scale, a row at a time, and takes the
/// bounded samples that ``InkProjection`` estimates from.
struct PixelSampler {
  struct Pixel {
    /// (gray, 0, 0) or (r, g, b).
    var colour: SIMD3<Float>
    /// 255 when the image has no alpha.
    var alpha: Float
  }

  /// At most this many pixels are sampled for the estimates.
  static let maxSamples = 1 << 16

  let png: DecodedPNG

  init(_ png: DecodedPNG) { self.png = png }

  /// Calls `body(y, pixelAt)` for the given rows, where `pixelAt(x)` reads pixel x of row y.
  func forEachRow(_ rows: some Sequence<Int>, _ body: (Int, (Int) -> Pixel) -> Void) {
    let channels = png.channels
    var buffer = [Float](repeating: 0, count: png.width * channels)
    buffer.withUnsafeMutableBufferPointer { row in
      for y in rows {
        png.samples(row: y, into: row)
        let samples = UnsafeBufferPointer(row)
        body(y) { x in Self.pixel(samples, x * channels, channels) }
      }
    }
  }

  @inline(__always)
  static func pixel(_ s: UnsafeBufferPointer<Float>, _ i: Int, _ channels: Int) -> Pixel {
    switch channels {
    case 1: Pixel(colour: SIMD3(s[i], 0, 0), alpha: 255)
    case 2: Pixel(colour: SIMD3(s[i], 0, 0), alpha: s[i + 1])
    case 3: Pixel(colour: SIMD3(s[i], s[i + 1], s[i + 2]), alpha: 255)
    default: Pixel(colour: SIMD3(s[i], s[i + 1], s[i + 2]), alpha: s[i + 3])
    }
  }

  /// Pixels of a frame around the border, `max(1, min(width, height) / 32)` pixels thick, subsampled to
  /// at most ``maxSamples``.
  func border() -> [Pixel] {
    let (w, h) = (png.width, png.height)
    let t = max(1, min(w, h) / 32)
    let ring = min(w * h, 2 * t * (w + h))
    let step = max(1, ring / Self.maxSamples + 1)
    var result = [Pixel]()
    result.reserveCapacity(min(ring, Self.maxSamples) + 2 * t)
    var n = 0
    forEachRow(0..<h) { y, pixelAt in
      let edgeRow = y < t || y >= h - t
      for x in 0..<w where edgeRow || x < t || x >= w - t {
        if n % step == 0 { result.append(pixelAt(x)) }
        n += 1
      }
    }
    return result
  }

  /// Pixels on a regular grid over the whole image, at most about ``maxSamples``.
  func grid() -> [Pixel] {
    let (w, h) = (png.width, png.height)
    let step = max(1, Int((Double(w) * Double(h) / Double(Self.maxSamples)).squareRoot().rounded(.up)))
    var result = [Pixel]()
    result.reserveCapacity((w / step + 1) * (h / step + 1))
    forEachRow(stride(from: 0, to: h, by: step)) { _, pixelAt in
      for x in stride(from: 0, to: w, by: step) { result.append(pixelAt(x)) }
    }
    return result
  }
}
