/// A single-channel plane of `Float` values, row-major, for the steps between decoding and framing.
struct Plane {
  var width: Int
  var height: Int
  var values: [Float]

  subscript(x: Int, y: Int) -> Float {
    get { values[y * width + x] }
    set { values[y * width + x] = newValue }
  }

  /// The median of the first and last rows and columns.
  var borderMedian: Float {
    var border = [Float]()
    for y in 0..<height {
      for x in 0..<width where y == 0 || y == height - 1 || x == 0 || x == width - 1 {
        border.append(self[x, y])
      }
    }
    border.sort()
    return border[border.count / 2]
  }
}

extension InkProjection {
  /// The projected image (ink positive), box-averaged by the smallest integer factor that brings its
  /// longer side to at most `maxSide`. One pass over the decoded rows; memory is the output and one row.
  func plane(of png: DecodedPNG, maxSide: Int) -> Plane {
    let factor = max(1, (max(png.width, png.height) + maxSide - 1) / maxSide)
    let width = (png.width + factor - 1) / factor
    let height = (png.height + factor - 1) / factor
    let channels = png.channels
    var sums = [Float](repeating: 0, count: width * height)
    var row = [Float](repeating: 0, count: png.width * channels)
    sums.withUnsafeMutableBufferPointer { sums in
      row.withUnsafeMutableBufferPointer { row in
        for y in 0..<png.height {
          png.samples(row: y, into: row)
          let samples = UnsafeBufferPointer(row)
          let base = (y / factor) * width
          for column in 0..<width {
            var sum: Float = 0
            for x in (column * factor)..<min(png.width, (column + 1) * factor) {
              sum += value(PixelSampler.pixel(samples, x * channels, channels))
            }
            sums[base + column] += sum
          }
        }
      }
    }
    for y in 0..<height {
      let rows = min(png.height, (y + 1) * factor) - y * factor
      for x in 0..<width {
        let columns = min(png.width, (x + 1) * factor) - x * factor
        sums[y * width + x] /= Float(rows * columns)
      }
    }
    return Plane(width: width, height: height, values: sums)
  }
}

/// Background removal, noise floor, ink scaling and speck removal on a projected plane (ink positive),
/// the steps between colour projection and MNIST framing of ``DigitPreprocessing/mnist``.
///
/// 1. **Background.** The image is divided into about 8x8 cells; each cell's background is its 25th
///    percentile (right while ink covers under three quarters of the cell), smoothed by the median of
///    the 3x3 neighbouring cells and interpolated bilinearly between cell centres. Subtracting it removes
///    lighting gradients and vignetting.
/// 2. **Noise.** The residual's median `m` and its robust spread `sigma` (1.4826 x the median absolute
///    deviation) give the noise floor `low = m + 4 sigma`.
/// 3. **Marks.** Pixels above `low` are grouped into 8-connected components. The digit is the component
///    with the largest ink mass plus every component with at least 2% of its mass lying within half the
///    digit's size of it (broken strokes), and pieces of at least 0.5% inside its box. Everything else (noise, dust,
///    specks, distant marks) becomes 0, so it cannot widen the crop.
/// 4. **No digit.** The image is blank when nothing rises above the floor, when the largest mark spans
///    less than 2.5% of the image's longer side (or 3 pixels), or when its peak is under
///    `max(6 sigma, 12)` levels above the background.
/// 5. **Ink scale.** Kept pixels map linearly from `low` (0) to the median of the kept residuals (255),
///    clamped: background exactly 0, ink graded up to 255 with its anti-aliased edges, as MNIST
///    digits are.
enum InkCleaning {
  /// What is taken as the background level.
  enum Background {
    /// The smooth surface of step 1, for images large enough to hold cells of background.
    case surface
    /// One level, the median of the outermost pixels (for small images such as a 28x28 digit).
    case borderMedian
  }

  /// The result: the cleaned plane (0 outside the digit, 0...255 inside).
  static func clean(_ plane: Plane, name: String, background: Background = .surface) throws -> Plane {
    let residual: Plane
    switch background {
    case .surface: residual = subtractingBackground(plane)
    case .borderMedian:
      let level = plane.borderMedian
      residual = Plane(width: plane.width, height: plane.height, values: plane.values.map { $0 - level })
    }
    let (median, sigma) = robustSpread(residual.values)
    let low = median + 4 * sigma
    let marks = Components(residual, above: low)
    guard let mainIndex = marks.largest else {
      throw noDigit(name, "the image is blank after background removal")
    }
    let main = marks.marks[mainIndex]
    let box = main.box
    let longer = max(plane.width, plane.height)
    if max(box.width, box.height) < max(3, Int((0.025 * Double(longer)).rounded(.up))) {
      throw noDigit(
        name,
        "the image is blank after background removal (only specks or noise; the largest mark spans "
          + "\(format1(Float(100 * max(box.width, box.height)) / Float(longer)))% of the image's longer side)"
      )
    }
    if main.peak - median < max(6 * sigma, 12) {
      throw noDigit(
        name,
        "the image is blank after background removal (the strongest mark is \(Int(main.peak - median)) "
          + "levels above a background noise of \(format1(sigma)))")
    }
    let kept = marks.digit(around: mainIndex)
    var inkValues = [Float]()
    for (i, label) in marks.labels.enumerated() where label >= 0 && kept[Int(label)] {
      inkValues.append(residual.values[i])
    }
    inkValues.sort()
    let high = max(inkValues[inkValues.count / 2], low + 1)
    var out = Plane(
      width: plane.width, height: plane.height, values: .init(repeating: 0, count: plane.values.count))
    for (i, label) in marks.labels.enumerated() where label >= 0 && kept[Int(label)] {
      out.values[i] = 255 * min(max((residual.values[i] - low) / (high - low), 0), 1)
    }
    return out
  }

  static func noDigit(_ name: String, _ why: String) -> ImageError {
    ImageError(source: name, kind: .noDigit, detail: "no digit found: \(why)")
  }

  private static func format1(_ value: Float) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
  }

  /// The plane minus a smooth background surface (see step 1).
  static func subtractingBackground(_ plane: Plane) -> Plane {
    let (w, h) = (plane.width, plane.height)
    let cell = max(4, (max(w, h) + 7) / 8)
    let nx = (w + cell - 1) / cell
    let ny = (h + cell - 1) / cell
    var levels = [Float](repeating: 0, count: nx * ny)
    var values = [Float]()
    values.reserveCapacity(cell * cell)
    for cy in 0..<ny {
      for cx in 0..<nx {
        values.removeAll(keepingCapacity: true)
        for y in (cy * cell)..<min(h, (cy + 1) * cell) {
          for x in (cx * cell)..<min(w, (cx + 1) * cell) { values.append(plane[x, y]) }
        }
        values.sort()
        levels[cy * nx + cx] = values[values.count / 4]
      }
    }
    // The 3x3 median of the cell levels, on the grid padded by one cell of linear extrapolation on every
    // side, so that a gradient is not pulled towards the inside at the edges.
    let (px, py) = (nx + 2, ny + 2)
    var padded = [Float](repeating: 0, count: px * py)
    func level(_ x: Int, _ y: Int) -> Float {
      func inside(_ i: Int, _ n: Int) -> (Int, Int, Float) {
        if n < 2 || (0..<n).contains(i) { return (min(max(i, 0), n - 1), min(max(i, 0), n - 1), 0) }
        return i < 0 ? (0, 1, -1) : (n - 1, n - 2, -1)
      }
      let (x0, x1, sx) = inside(x, nx)
      let (y0, y1, sy) = inside(y, ny)
      let base = levels[y0 * nx + x0]
      return base + sx * (levels[y0 * nx + x1] - base) + sy * (levels[y1 * nx + x0] - base)
    }
    for y in 0..<py { for x in 0..<px { padded[y * px + x] = level(x - 1, y - 1) } }
    var smoothed = levels
    var neighbours = [Float]()
    for cy in 0..<ny {
      for cx in 0..<nx {
        neighbours.removeAll(keepingCapacity: true)
        for y in cy...(cy + 2) { for x in cx...(cx + 2) { neighbours.append(padded[y * px + x]) } }
        neighbours.sort()
        smoothed[cy * nx + cx] = neighbours[4]
      }
    }
    // Bilinear interpolation between cell centres, extrapolated linearly beyond the outer centres (a
    // lighting gradient goes on to the edge of the image).
    func axis(_ p: Int, _ n: Int, _ extent: Int) -> (Int, Int, Float) {
      guard n > 1 else { return (0, 0, 0) }
      func centre(_ i: Int) -> Float { Float(i * cell + min((i + 1) * cell, extent)) / 2 }
      let position = Float(p) + 0.5
      let lower = min(max(Int(position / Float(cell) - 0.5), 0), n - 2)
      let fraction = (position - centre(lower)) / (centre(lower + 1) - centre(lower))
      return (lower, lower + 1, fraction)
    }
    var out = plane
    for y in 0..<h {
      let (y0, y1, fy) = axis(y, ny, h)
      for x in 0..<w {
        let (x0, x1, fx) = axis(x, nx, w)
        let top = smoothed[y0 * nx + x0] * (1 - fx) + smoothed[y0 * nx + x1] * fx
        let bottom = smoothed[y1 * nx + x0] * (1 - fx) + smoothed[y1 * nx + x1] * fx
        out[x, y] = plane[x, y] - (top * (1 - fy) + bottom * fy)
      }
    }
    return out
  }

  /// The median and 1.4826 x the median absolute deviation.
  static func robustSpread(_ values: [Float]) -> (median: Float, sigma: Float) {
    guard !values.isEmpty else { return (0, 0) }
    var sorted = values
    sorted.sort()
    let median = sorted[sorted.count / 2]
    var deviations = values.map { abs($0 - median) }
    deviations.sort()
    return (median, 1.4826 * deviations[deviations.count / 2])
  }
}

/// The 8-connected components of the pixels of a plane above a level.
struct Components {
  struct Mark {
    var mass: Float = 0
    var peak: Float = -.infinity
    var minX = Int.max
    var minY = Int.max
    var maxX = -1
    var maxY = -1

    var box: (width: Int, height: Int) { (maxX - minX + 1, maxY - minY + 1) }
  }

  /// Per pixel: the component index, or -1 for pixels at or below the level.
  private(set) var labels: [Int32]
  private(set) var marks: [Mark] = []

  init(_ plane: Plane, above level: Float) {
    let (w, h) = (plane.width, plane.height)
    labels = [Int32](repeating: -1, count: w * h)
    var stack = [Int]()
    for start in 0..<(w * h) where labels[start] == -1 && plane.values[start] > level {
      let label = Int32(marks.count)
      var mark = Mark()
      labels[start] = label
      stack.append(start)
      while let i = stack.popLast() {
        let (x, y) = (i % w, i / w)
        let v = plane.values[i]
        mark.mass += v - level
        mark.peak = max(mark.peak, v)
        mark.minX = min(mark.minX, x)
        mark.maxX = max(mark.maxX, x)
        mark.minY = min(mark.minY, y)
        mark.maxY = max(mark.maxY, y)
        for ny in max(0, y - 1)...min(h - 1, y + 1) {
          for nx in max(0, x - 1)...min(w - 1, x + 1) {
            let j = ny * w + nx
            if labels[j] == -1 && plane.values[j] > level {
              labels[j] = label
              stack.append(j)
            }
          }
        }
      }
      marks.append(mark)
    }
  }

  /// The index of the component with the largest mass.
  var largest: Int? { marks.indices.max { marks[$0].mass < marks[$1].mass } }

  /// Which components form the digit around `main` (see ``InkCleaning``, step 3).
  func digit(around mainIndex: Int) -> [Bool] {
    let main = marks[mainIndex]
    var kept = [Bool](repeating: false, count: marks.count)
    kept[mainIndex] = true
    var box = (minX: main.minX, minY: main.minY, maxX: main.maxX, maxY: main.maxY)
    let order = marks.indices.sorted { marks[$0].mass > marks[$1].mass }
    var changed = true
    while changed {
      changed = false
      let reach = max(box.maxX - box.minX + 1, box.maxY - box.minY + 1) / 2
      for i in order where !kept[i] {
        let m = marks[i]
        let inside = m.minX >= box.minX && m.maxX <= box.maxX && m.minY >= box.minY && m.maxY <= box.maxY
        let near =
          m.minX <= box.maxX + reach && m.maxX >= box.minX - reach && m.minY <= box.maxY + reach
          && m.maxY >= box.minY - reach
        guard (near && m.mass >= 0.02 * main.mass) || (inside && m.mass >= 0.005 * main.mass) else {
          continue
        }
        kept[i] = true
        box = (min(box.minX, m.minX), min(box.minY, m.minY), max(box.maxX, m.maxX), max(box.maxY, m.maxY))
        changed = true
      }
    }
    return kept
  }
}
