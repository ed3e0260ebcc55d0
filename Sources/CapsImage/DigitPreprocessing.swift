/// How an image of arbitrary size becomes the square model input (see
/// ``DecodedPNG/digitInput(name:mode:polarity:alpha:size:)`` for files and
/// ``GrayImage/digitInput(name:mode:polarity:size:)`` for images already clean).
///
/// An input that is already `size x size` is used as it is in every mode (only polarity and alpha apply).
public enum DigitPreprocessing: String, CaseIterable, Equatable, Sendable {
  /// The MNIST recipe. For a decoded file: colour and alpha projected onto the ink direction
  /// (``InkProjection``), reduced to at most 512 pixels on the longer side, background, noise and specks
  /// removed and the ink scaled to 0...255 (``InkCleaning``); a blank image is refused with
  /// ``ImageError/Kind/noDigit``. Then, as for a clean ``GrayImage``: crop to the ink bounding box (ink =
  /// pixel > 0 after polarity), scale with area averaging so the longer side is 20 (for size 28;
  /// `round(size * 20 / 28)` in general) keeping the aspect ratio, then place the result so that its centre
  /// of mass lands on `(size / 2, size / 2)` in pixel-index coordinates (offset rounded half away from zero,
  /// clamped to keep the box inside the frame). A clean ``GrayImage`` without ink becomes all zeros.
  case mnist
  /// Area-average the whole image to `size x size` (aspect ratio not kept). Exact for integer
  /// enlargements made by pixel replication.
  case scale
  /// No resizing: any size other than `size x size` is an error.
  case none
}

extension DecodedPNG {
  /// The `size x size` white-on-black model input (values 0...255) for a decoded file.
  ///
  /// - A `size x size` image, and every image in modes ``DigitPreprocessing/scale`` and
  ///   ``DigitPreprocessing/none``, is used as it is: luminance (``PNGCodec``), alpha according to
  ///   `alpha` (``AlphaHandling``; composited over black unless the canvas is transparent), polarity, then
  ///   ``GrayImage/digitInput(name:mode:polarity:size:)``. A clean MNIST-style file (background exactly 0
  ///   on the border after polarity) is thus fed to the model unchanged. In mode ``DigitPreprocessing/mnist``
  ///   a `size x size` image whose border is not 0 (paper or sensor noise) has its levels cleaned as in
  ///   ``InkCleaning`` with the border median as background, and keeps its geometry. With a forced
  ///   polarity (``Polarity/invert`` or ``Polarity/keep``) the image is used as it is, without cleaning or
  ///   the blank check.
  /// - Other sizes in mode ``DigitPreprocessing/mnist`` go through background removal (see
  ///   ``DigitPreprocessing/mnist``).
  ///
  /// - Throws: ``ImageError`` with kind ``ImageError/Kind/noDigit`` when the image holds no digit (blank
  ///   after background removal, or a `size x size` image without contrast above its noise), or the errors
  ///   of ``GrayImage/digitInput(name:mode:polarity:size:)``.
  public func digitInput(
    name: String, mode: DigitPreprocessing = .mnist, polarity: Polarity = .auto, alpha: AlphaHandling = .auto,
    size: Int = 28
  ) throws -> GrayImage {
    guard size >= 1 else {
      throw ImageError(source: name, kind: .invalidArgument, detail: "invalid digit size \(size)")
    }
    guard mode == .mnist, width != size || height != size else {
      let (gray, drawn) = try asIs(alpha: alpha)
      let image = try gray.digitInput(name: name, mode: mode, polarity: drawn ? .keep : polarity, size: size)
      // A polarity forced by the caller is taken as it is: the image is what they asked the model to see.
      if polarity != .auto && !drawn { return image }
      let plane = Plane(width: image.width, height: image.height, values: image.pixels)
      if mode == .mnist && plane.borderMedian != 0 {
        // Not a clean digit (paper or sensor noise around it): levels cleaned, geometry kept.
        let cleaned = try InkCleaning.clean(plane, name: name, background: .borderMedian)
        return GrayImage(unchecked: cleaned.width, cleaned.height, cleaned.values)
      }
      try image.requireContrast(name: name)
      return image
    }
    let projection = InkProjection(self, alpha: alpha, polarity: polarity)
    guard projection.direction != .zero else {
      throw InkCleaning.noDigit(name, "the image is blank (every pixel has the same colour)")
    }
    let cleaned = try InkCleaning.clean(projection.plane(of: self, maxSide: 512), name: name)
    return GrayImage(unchecked: cleaned.width, cleaned.height, cleaned.values).mnistFramed(size: size)
  }

  /// The image as one gray value per pixel without background removal, and whether that is the alpha
  /// channel (a drawing on a transparent canvas, already white on black).
  private func asIs(alpha: AlphaHandling) throws -> (GrayImage, drawn: Bool) {
    switch InkProjection.compositing(of: self, alpha: alpha) {
    case .alphaIsInk:
      var pixels = [Float]()
      pixels.reserveCapacity(width * height)
      PixelSampler(self).forEachRow(0..<height) { _, pixelAt in
        for x in 0..<width { pixels.append(pixelAt(x).alpha) }
      }
      return (GrayImage(unchecked: width, height, pixels), true)
    case .opaque: return (try luminance(), false)
    case .over(let colour):
      let level = channels >= 3 ? 0.299 * colour.x + 0.587 * colour.y + 0.114 * colour.z : colour.x
      return (try luminance(background: level), false)
    }
  }
}

extension GrayImage {
  /// Throws ``ImageError/Kind/noDigit`` unless some pixel rises `max(6 sigma, 12)` levels above the
  /// median, `sigma` being the robust spread of the pixels (see ``InkCleaning``).
  func requireContrast(name: String) throws {
    let (median, sigma) = InkCleaning.robustSpread(pixels)
    let peak = pixels.max() ?? 0
    if peak - median < max(6 * sigma, 12) {
      throw InkCleaning.noDigit(
        name, "the image is blank (its brightest ink is \(Int(peak - median)) levels above the background)")
    }
  }
}

/// Which way round the digit is (the model expects white ink on a black background).
public enum Polarity: String, CaseIterable, Equatable, Sendable {
  /// Invert (`255 - v`) when ``GrayImage/isDarkOnLight`` is true, otherwise keep.
  case auto
  /// Always invert (`255 - v`).
  case invert
  /// Never invert.
  case keep
}

extension GrayImage {
  /// Whether the image looks like dark ink on a light background: the mean of the border pixels
  /// (first and last rows and columns, each pixel counted once) is above 127.5.
  public var isDarkOnLight: Bool {
    var sum = 0.0
    var count = 0
    for y in 0..<height {
      let onEdgeRow = y == 0 || y == height - 1
      for x in 0..<width where onEdgeRow || x == 0 || x == width - 1 {
        sum += Double(self[x, y])
        count += 1
      }
    }
    return count > 0 && sum / Double(count) > 127.5
  }

  /// The photographic negative, `255 - v` for every pixel.
  public func inverted() -> GrayImage {
    GrayImage(unchecked: width, height, pixels.map { 255 - $0 })
  }

  /// The image with `polarity` applied (see ``Polarity``).
  public func applying(_ polarity: Polarity) -> GrayImage {
    switch polarity {
    case .keep: return self
    case .invert: return inverted()
    case .auto: return isDarkOnLight ? inverted() : self
    }
  }

  /// Resizes by area averaging: each output pixel is the mean of the input area it covers, with
  /// partially covered input pixels weighted by the covered fraction.
  ///
  /// Identity when the size does not change; exact for integer reductions of replicated pixels.
  /// - Throws: ``ImageError`` (``ImageError/Kind/invalidArgument``) if `width` or `height` is below 1.
  public func resampled(width newWidth: Int, height newHeight: Int) throws -> GrayImage {
    guard newWidth >= 1, newHeight >= 1 else {
      throw ImageError(
        source: "image", kind: .invalidArgument,
        detail: "invalid target size \(newWidth)x\(newHeight) (width and height must be at least 1)")
    }
    return Self.areaAverage(
      pixels.map(Double.init), width: width, height: height, toWidth: newWidth, toHeight: newHeight)
  }

  /// Produces the `size x size` model input: white-on-black, values 0...255.
  ///
  /// Polarity is applied first (``Polarity``; the default detects dark-on-light images), then the image
  /// is resized according to `mode` unless it is already `size x size` (see ``DigitPreprocessing``).
  /// - Parameters:
  ///   - name: The file name used in error messages.
  ///   - mode: The resizing recipe for images that are not `size x size`.
  ///   - polarity: Whether to invert.
  ///   - size: The side of the square output, 28 for MNIST models.
  /// - Throws: ``ImageError`` with kind ``ImageError/Kind/unsupportedSize`` for a wrongly sized image in
  ///   mode ``DigitPreprocessing/none``, or ``ImageError/Kind/invalidArgument`` if `size` is below 1.
  public func digitInput(
    name: String, mode: DigitPreprocessing = .mnist, polarity: Polarity = .auto, size: Int = 28
  ) throws -> GrayImage {
    guard size >= 1 else {
      throw ImageError(source: name, kind: .invalidArgument, detail: "invalid digit size \(size)")
    }
    let image = applying(polarity)
    if width == size && height == size { return image }
    switch mode {
    case .none:
      throw ImageError(
        source: name, kind: .unsupportedSize,
        detail: "image is \(width)x\(height), expected \(size)x\(size) (preprocessing 'none')")
    case .scale:
      return try image.resampled(width: size, height: size)
    case .mnist:
      return image.mnistFramed(size: size)
    }
  }

  /// The MNIST recipe (see ``DigitPreprocessing/mnist``) applied to an already white-on-black image.
  func mnistFramed(size: Int) -> GrayImage {
    var minX = width
    var minY = height
    var maxX = -1
    var maxY = -1
    for y in 0..<height {
      for x in 0..<width where self[x, y] > 0 {
        minX = Swift.min(minX, x)
        maxX = Swift.max(maxX, x)
        minY = Swift.min(minY, y)
        maxY = Swift.max(maxY, y)
      }
    }
    var frame = [Float](repeating: 0, count: size * size)
    guard maxX >= 0 else { return GrayImage(unchecked: size, size, frame) }

    let cropWidth = maxX - minX + 1
    let cropHeight = maxY - minY + 1
    var crop = [Double]()
    crop.reserveCapacity(cropWidth * cropHeight)
    for y in minY...maxY {
      for x in minX...maxX { crop.append(Double(self[x, y])) }
    }

    let box = Swift.max(1, Int((Double(size) * 20 / 28).rounded(.toNearestOrAwayFromZero)))
    let longest = Swift.max(cropWidth, cropHeight)
    func fitted(_ side: Int) -> Int {
      Swift.max(1, Int((Double(side) * Double(box) / Double(longest)).rounded(.toNearestOrAwayFromZero)))
    }
    let boxWidth = Swift.min(box, fitted(cropWidth))
    let boxHeight = Swift.min(box, fitted(cropHeight))
    let scaled = Self.areaAverage(
      crop, width: cropWidth, height: cropHeight, toWidth: boxWidth, toHeight: boxHeight)

    var mass = 0.0
    var sumX = 0.0
    var sumY = 0.0
    for y in 0..<boxHeight {
      for x in 0..<boxWidth {
        let v = Double(scaled[x, y])
        mass += v
        sumX += v * Double(x)
        sumY += v * Double(y)
      }
    }
    func offset(_ centre: Double, _ extent: Int) -> Int {
      let raw = Int((Double(size) / 2 - centre).rounded(.toNearestOrAwayFromZero))
      return Swift.min(Swift.max(raw, 0), size - extent)
    }
    // mass > 0 because the crop contains ink and area averaging keeps positive mass.
    let left = mass > 0 ? offset(sumX / mass, boxWidth) : (size - boxWidth) / 2
    let top = mass > 0 ? offset(sumY / mass, boxHeight) : (size - boxHeight) / 2
    for y in 0..<boxHeight {
      for x in 0..<boxWidth {
        frame[(top + y) * size + left + x] = scaled[x, y]
      }
    }
    return GrayImage(unchecked: size, size, frame)
  }

  /// Separable area averaging. Source pixel `i` covers `[i * m, (i + 1) * m)` and output pixel `j`
  /// covers `[j * n, (j + 1) * n)` in integer units (`n` source, `m` output pixels), so overlaps are exact
  /// integers; each output is `sum(v_i * overlap_i) / n`.
  static func areaAverage(
    _ source: [Double], width: Int, height: Int, toWidth: Int, toHeight: Int
  ) -> GrayImage {
    let columns = weights(from: width, to: toWidth)
    let rows = weights(from: height, to: toHeight)
    var horizontal = [Double](repeating: 0, count: toWidth * height)
    for y in 0..<height {
      let row = y * width
      for (j, taps) in columns.enumerated() {
        var sum = 0.0
        for tap in taps { sum += source[row + tap.index] * tap.overlap }
        horizontal[y * toWidth + j] = sum / Double(width)
      }
    }
    var out = [Float](repeating: 0, count: toWidth * toHeight)
    for (j, taps) in rows.enumerated() {
      for x in 0..<toWidth {
        var sum = 0.0
        for tap in taps { sum += horizontal[tap.index * toWidth + x] * tap.overlap }
        out[j * toWidth + x] = Float(sum / Double(height))
      }
    }
    return GrayImage(unchecked: toWidth, toHeight, out)
  }

  private static func weights(from n: Int, to m: Int) -> [[(index: Int, overlap: Double)]] {
    (0..<m).map { j in
      let start = j * n
      let end = (j + 1) * n
      return (start / m...(end - 1) / m).map { i in
        let overlap = Swift.min((i + 1) * m, end) - Swift.max(i * m, start)
        return (index: i, overlap: Double(overlap))
      }
    }
  }
}
