import CapsFormat
import CapsImage
import CapsRuntime
import Foundation

/// The geometry of a capsule-dimension perturbation sheet (`--perturb`), after Sabour et al.'s
/// figure 4: one row per dimension of the predicted class's output capsule, one column per offset.
///
/// Cells are `size`x`size` reconstructions separated by 1-pixel grid lines; a left margin holds the
/// dimension numbers and a top band the offsets (where they fit in a cell). The unperturbed column
/// (offset 0, always present because offsets are `k * step` for `k` in `-n...n`) is framed in white.
struct PerturbationLayout: Equatable {
  /// Rows: the output capsule's dimension.
  let rows: Int
  /// Cell side: the model's input size.
  let size: Int
  /// Offsets added to one dimension, left to right; the middle one is 0.
  let offsets: [Float]

  /// Grid lines, the top band and the label margin.
  static let lineValue: Float = 48
  static let markValue: Float = 255
  static let textValue: Float = 200
  static let headerHeight = BitmapFont.height + 2
  /// More columns than this are refused (101: e.g. range 0.5, step 0.01).
  static let maximumColumns = 101

  /// - Parameters: range: offsets run from `-range` to `range`; step: their spacing (both > 0).
  init(rows: Int, size: Int, range: Double, step: Double) {
    self.rows = rows
    self.size = size
    let half = Self.halfColumns(range: range, step: step)
    offsets = (-half...half).map { Float(Double($0) * step) }
  }

  /// `n` of `-n...n`: the number of whole steps within `range` (a hair of tolerance for 0.25/0.05).
  static func halfColumns(range: Double, step: Double) -> Int {
    Int((range / step * (1 + 1e-9)).rounded(.down))
  }

  var columns: Int { offsets.count }
  /// Index of the unperturbed column.
  var centre: Int { columns / 2 }
  var leftMargin: Int { BitmapFont.width(of: String(max(0, rows - 1))) + 2 }
  var width: Int { leftMargin + columns * (size + 1) + 1 }
  var height: Int { Self.headerHeight + rows * (size + 1) + 1 }

  /// Top-left pixel of the cell of dimension `row`, offset `column`.
  func cellOrigin(row: Int, column: Int) -> (x: Int, y: Int) {
    (leftMargin + 1 + column * (size + 1), Self.headerHeight + 1 + row * (size + 1))
  }

  /// `+.25`, `-.05`, `0`: an offset as short as the header allows.
  static func label(_ offset: Float) -> String {
    if offset == 0 { return "0" }
    var text = String(format: "%+.3f", Double(offset))
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    if text.dropFirst().hasPrefix("0.") { text.remove(at: text.index(after: text.startIndex)) }
    return text
  }

  /// The sheet with grid, labels and marks drawn, cells black.
  func emptyCanvas() -> Canvas {
    var canvas = Canvas(width: width, height: height, background: 0)
    let top = Self.headerHeight
    for column in 0...columns {
      canvas.fill(x: leftMargin + column * (size + 1), y: top, width: 1, height: height - top, Self.lineValue)
    }
    for row in 0...rows {
      canvas.fill(
        x: leftMargin, y: top + row * (size + 1), width: width - leftMargin, height: 1, Self.lineValue)
    }
    // The unperturbed column: a white frame.
    let x = leftMargin + centre * (size + 1)
    canvas.fill(x: x, y: top, width: 1, height: height - top, Self.markValue)
    canvas.fill(x: x + size + 1, y: top, width: 1, height: height - top, Self.markValue)
    canvas.fill(x: x, y: top, width: size + 2, height: 1, Self.markValue)
    canvas.fill(x: x, y: height - 1, width: size + 2, height: 1, Self.markValue)
    for (column, offset) in offsets.enumerated() {
      let text = Self.label(offset)
      let textWidth = BitmapFont.width(of: text)
      guard textWidth <= size || column == centre else { continue }
      let origin = cellOrigin(row: 0, column: column)
      BitmapFont.draw(
        text, x: origin.x + (size - textWidth) / 2, y: 1,
        value: column == centre ? Self.markValue : Self.textValue, on: &canvas)
    }
    for row in 0..<rows {
      let text = String(row)
      let origin = cellOrigin(row: row, column: 0)
      BitmapFont.draw(
        text, x: leftMargin - 1 - BitmapFont.width(of: text), y: origin.y + (size - BitmapFont.height) / 2,
        value: Self.textValue, on: &canvas)
    }
    return canvas
  }
}

/// Writes `<dir>/<name>.perturb.png` per classified file (`--perturb`): each cell is the decoder's
/// reconstruction from the predicted capsule with one dimension offset, every other capsule masked
/// as in the reconstruction. The decoder runs on the main thread between batches
/// (``CapsRuntime/InferenceSession/decode(capsules:count:into:)``, up to `maxBatch` cells per call);
/// the files are written on the background queue.
final class PerturbationWriter {
  let layout: PerturbationLayout
  private let files: PictureDirectory
  private let capsuleWidth: Int
  private let dimension: Int
  private let chunk: Int
  // Reused for every image: the masked capsules, a chunk of perturbed inputs and their decodings.
  private var masked: [Float]
  private var inputs: [Float]
  private var outputs: [Float]

  init(
    directory: String, configuration c: CapsNetConfiguration, maxBatch: Int, range: Double, step: Double,
    runFiles: RunFiles
  ) throws(PictureDirectory.DirectoryError) {
    layout = PerturbationLayout(rows: c.outputDimension, size: c.inputSize, range: range, step: step)
    files = try PictureDirectory(
      directory: directory, suffix: ".perturb.png", noun: "perturbation sheet", runFiles: runFiles)
    capsuleWidth = c.outputCapsules * c.outputDimension
    dimension = c.outputDimension
    chunk = max(1, min(maxBatch, layout.rows * layout.columns))
    masked = [Float](repeating: 0, count: capsuleWidth)
    inputs = [Float](repeating: 0, count: chunk * capsuleWidth)
    outputs = [Float](repeating: 0, count: chunk * c.inputSize * c.inputSize)
  }

  /// Composes the sheets of `batch`'s images from the session's last run and adds them to `job`.
  func submit(_ batch: Batch, session: InferenceSession, to job: PictureJob) {
    for entry in batch.entries {
      guard case .image(let image) = entry.outcome else { continue }
      let picture = sheet(image: image, session: session)
      do {
        files.add(
          try GrayImage(width: layout.width, height: layout.height, pixels: picture.pixels),
          forInput: entry.path,
          image: image, to: job)
      } catch {
        job.fail(image, "perturbation sheet not written: \(error)")
      }
    }
  }

  /// The sheet of image `image` of the session's last run.
  func sheet(image: Int, session: InferenceSession) -> Canvas {
    var canvas = layout.emptyCanvas()
    masked.withUnsafeMutableBufferPointer { session.maskedCapsules(image: image, into: $0) }
    let first = session.prediction(at: image) * dimension
    let area = layout.size * layout.size
    let cells = layout.rows * layout.columns
    var start = 0
    while start < cells {
      let count = min(chunk, cells - start)
      for q in 0..<count {
        let (row, column) = (start + q).quotientAndRemainder(dividingBy: layout.columns)
        let base = q * capsuleWidth
        for i in 0..<capsuleWidth { inputs[base + i] = masked[i] }
        if layout.offsets[column] != 0 { inputs[base + first + row] += layout.offsets[column] }
      }
      inputs.withUnsafeBufferPointer { capsules in
        outputs.withUnsafeMutableBufferPointer { session.decode(capsules: capsules, count: count, into: $0) }
      }
      for q in 0..<count {
        let (row, column) = (start + q).quotientAndRemainder(dividingBy: layout.columns)
        let origin = layout.cellOrigin(row: row, column: column)
        canvas.paste(
          outputs[(q * area)..<((q + 1) * area)], side: layout.size, x: origin.x, y: origin.y, scale: 255)
      }
      start += count
    }
    return canvas
  }
}
