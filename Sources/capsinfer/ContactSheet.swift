import CapsImage
import CapsRuntime
import Foundation

/// One PNG of the first `limit` inputs of a run (`--contact-sheet`): each file's model input beside
/// its reconstruction, captioned with the predicted label and its capsule length, in input order,
/// ten pairs per row.
///
/// A pair is marked (white frame, caption inverted: black on white) when the prediction's length is
/// below ``lowLength`` (`LOW` in the caption) or the file was not classified (grey cells, caption
/// `NO DIGIT` when preprocessing found none, else `ERROR`).
final class ContactSheet {
  /// Lengths below this are marked: the capsule is more "absent" than "present" (the margin loss
  /// pushes winners above 0.9 and losers below 0.1).
  static let lowLength: Float = 0.5
  static let pairsPerRow = 10
  static let captionHeight = BitmapFont.height + 2
  static let lineValue: Float = 48
  static let markValue: Float = 255
  static let failedValue: Float = 96

  let path: String
  let limit: Int
  let size: Int
  let labels: [String]
  private var cells: [Cell] = []

  private struct Cell {
    /// Model input (0...255) and reconstruction (0...1), or nil for a file that was not classified.
    var pixels: (input: [Float], reconstruction: [Float])?
    var caption: String
    var marked: Bool
  }

  init(path: String, limit: Int, size: Int, labels: [String]) {
    self.path = path
    self.limit = limit
    self.size = size
    self.labels = labels
  }

  /// Number of inputs on the sheet so far.
  var count: Int { cells.count }

  /// The sheet's size for `count` inputs.
  static func dimensions(count: Int, size: Int) -> (width: Int, height: Int) {
    let columns = min(count, pairsPerRow)
    let rows = (count + pairsPerRow - 1) / pairsPerRow
    return (columns * (2 * size + 1) + 1, rows * (size + captionHeight + 1) + 1)
  }

  /// Adds `batch`'s entries (while there is room), from the session's last run with reconstructions.
  func collect(_ batch: Batch, session: InferenceSession) {
    let area = size * size
    session.withReconstructions { reconstructions in
      for entry in batch.entries where cells.count < limit {
        switch entry.outcome {
        case .failed(let reason):
          cells.append(
            Cell(pixels: nil, caption: reason.contains("no digit") ? "NO DIGIT" : "ERROR", marked: true))
        case .image(let image):
          let predicted = session.prediction(at: image)
          let length = session.length(at: image, capsule: predicted)
          guard length.isFinite else {
            cells.append(Cell(pixels: nil, caption: "ERROR", marked: true))
            continue
          }
          let low = length < Self.lowLength
          let label = predicted < labels.count ? labels[predicted] : String(predicted)
          var score = String(format: "%.2f", Double(length))
          if score.hasPrefix("0") { score.removeFirst() }
          cells.append(
            Cell(
              pixels: (
                Array(batch.image(image)), Array(reconstructions[(image * area)..<((image + 1) * area)])
              ),
              caption: low ? "\(label) LOW \(score)" : "\(label) \(score)", marked: low))
        }
      }
    }
  }

  /// The sheet of the inputs collected so far (at least one).
  func picture() throws -> GrayImage {
    let (width, height) = Self.dimensions(count: cells.count, size: size)
    var canvas = Canvas(width: width, height: height, background: Self.lineValue)
    let maxCharacters = max(1, (2 * size - 1) / BitmapFont.advance)
    for (index, cell) in cells.enumerated() {
      let (row, column) = index.quotientAndRemainder(dividingBy: Self.pairsPerRow)
      let x = column * (2 * size + 1)
      let y = row * (size + Self.captionHeight + 1)
      if cell.marked {
        canvas.fill(x: x, y: y, width: 2 * size + 2, height: size + Self.captionHeight + 2, Self.markValue)
      }
      if let (input, reconstruction) = cell.pixels {
        canvas.paste(input, side: size, x: x + 1, y: y + 1, scale: 1)
        canvas.paste(reconstruction, side: size, x: x + 1 + size, y: y + 1, scale: 255)
      } else {
        canvas.fill(x: x + 1, y: y + 1, width: 2 * size, height: size, Self.failedValue)
      }
      let band = y + 1 + size
      canvas.fill(
        x: x + 1, y: band, width: 2 * size, height: Self.captionHeight, cell.marked ? Self.markValue : 0)
      BitmapFont.draw(
        String(cell.caption.prefix(maxCharacters)), x: x + 2, y: band + 1, value: cell.marked ? 0 : 255,
        on: &canvas)
    }
    return try GrayImage(width: width, height: height, pixels: canvas.pixels)
  }
}
