import CapsFiles
import Foundation

/// One classified image: the predicted class and every output capsule's length.
struct Scores {
  var prediction: Int
  /// One length per class, in class order.
  var lengths: [Float]

  /// The `count` best classes, longest capsule first (ties: lower class first), the prediction leading.
  func best(_ count: Int) -> [Int] {
    var order = lengths.indices.sorted {
      lengths[$0] > lengths[$1] || (lengths[$0] == lengths[$1] && $0 < $1)
    }
    if let position = order.firstIndex(of: prediction), position != 0 {
      order.remove(at: position)
      order.insert(prediction, at: 0)
    }
    return Array(order.prefix(count))
  }
}

/// Turns results into table, CSV or JSON-lines text.
///
/// CSV and JSON-lines column names do not depend on the model: `length_0` ... `length_<C-1>` by class
/// index; labels are values (`prediction`, and `label` in each `top_k` entry), never column names.
/// The row layouts are documented in docs/CAPSINFER.md ("Rows").
struct ResultFormatter {
  let format: OutputFormat
  let labels: [String]
  /// Classes shown per file in the table and the jsonl `top_k` field.
  let topK: Int
  private let rankTitles: [String]
  private let rankWidths: [Int]

  init(format: OutputFormat, labels: [String], topK: Int) {
    self.format = format
    self.labels = labels
    self.topK = topK
    let labelWidth = labels.map(\.count).max() ?? 1
    rankTitles = (1...max(topK, 1)).map { $0 == 1 ? "prediction" : Self.ordinal($0) }
    rankWidths = rankTitles.map { max($0.count, labelWidth) }
  }

  /// The first lines of the output (column titles), or "" when the format has none.
  func header() -> String {
    switch format {
    case .table:
      var line = ""
      for (title, width) in zip(rankTitles, rankWidths) {
        line += Self.padded(title, width) + "  " + "length" + "  "
      }
      return line + "file\n"
    case .csv:
      return Self.csvHeader(classes: labels.count) + "\n"
    case .jsonl:
      return ""
    }
  }

  /// The CSV header line (without its line break) for a model of `classes` classes.
  static func csvHeader(classes: Int) -> String {
    (["file", "prediction", "class_index"] + (0..<classes).map { "length_\($0)" } + ["error"])
      .joined(separator: ",")
  }

  /// The `file` field of a row for `path`, exactly as written: a CSV field or a JSON string literal.
  static func fileField(_ path: String, format: OutputFormat) -> String {
    switch format {
    case .table: FileName.display(path)
    case .csv: csvField(path)
    case .jsonl: jsonString(path)
    }
  }

  /// Appends the line for one input: `scores` when it was classified, `failure` when something failed
  /// (both when the image was classified but its reconstruction could not be written).
  func append(path: String, scores: Scores?, failure: String?, to text: inout String) {
    switch format {
    case .table: appendTableRow(path: path, scores: scores, failure: failure, to: &text)
    case .csv: appendCSVRow(path: path, scores: scores, failure: failure, to: &text)
    case .jsonl: appendJSONLine(path: path, scores: scores, failure: failure, to: &text)
    }
  }

  private func appendTableRow(path: String, scores: Scores?, failure: String?, to text: inout String) {
    let best = scores?.best(topK) ?? []
    for (rank, width) in rankWidths.enumerated() {
      if let scores, rank < best.count {
        let label = best[rank]
        text +=
          Self.padded(labels[label], width) + "  " + String(format: "%6.4f", scores.lengths[label]) + "  "
      } else {
        text += Self.padded("-", width) + "  " + Self.padded("-", 6) + "  "
      }
    }
    text += FileName.display(path)
    if let failure { text += "  error: " + failure }
    text += "\n"
  }

  private func appendCSVRow(path: String, scores: Scores?, failure: String?, to text: inout String) {
    text += Self.fileField(path, format: .csv) + ","
    if let scores {
      text += Self.csvField(labels[scores.prediction]) + ",\(scores.prediction)"
      for label in labels.indices { text += "," + "\(scores.lengths[label])" }
    } else {
      text += String(repeating: ",", count: labels.count + 1)
    }
    text += "," + Self.csvField(failure ?? "") + "\n"
  }

  private func appendJSONLine(path: String, scores: Scores?, failure: String?, to text: inout String) {
    text += "{\"file\":" + Self.fileField(path, format: .jsonl)
    if let scores {
      text += ",\"prediction\":" + Self.jsonString(labels[scores.prediction])
      text += ",\"class_index\":\(scores.prediction)"
      for label in labels.indices {
        text += ",\"length_\(label)\":" + Self.jsonNumber(scores.lengths[label])
      }
      text += ",\"top_k\":["
      for (rank, label) in scores.best(topK).enumerated() {
        text +=
          (rank == 0 ? "" : ",") + "{\"class_index\":\(label),\"label\":" + Self.jsonString(labels[label])
        text += ",\"length\":" + Self.jsonNumber(scores.lengths[label]) + "}"
      }
      text += "]"
    }
    if let failure { text += ",\"error\":" + Self.jsonString(failure) }
    text += "}\n"
  }

  // MARK: Text helpers

  /// Right-aligned in `width` characters.
  static func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
  }

  /// "2nd", "3rd", "11th", ...
  static func ordinal(_ n: Int) -> String {
    let suffix: String
    switch (n % 10, n % 100) {
    case (_, 11...13): suffix = "th"
    case (1, _): suffix = "st"
    case (2, _): suffix = "nd"
    case (3, _): suffix = "rd"
    default: suffix = "th"
    }
    return "\(n)\(suffix)"
  }

  /// RFC 4180: quoted when it holds a comma, quote or line break; quotes doubled.
  static func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }

  /// A JSON number: the shortest decimal that reads back as the same Float; null if not finite.
  static func jsonNumber(_ value: Float) -> String { value.isFinite ? "\(value)" : "null" }

  /// A JSON string literal.
  static func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      case _ where FileName.escapedByte(scalar) != nil:
        // A file-name byte that is not UTF-8: Python's surrogateescape code point.
        result += "\\udc" + String(FileName.escapedByte(scalar)!, radix: 16)
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }
}
