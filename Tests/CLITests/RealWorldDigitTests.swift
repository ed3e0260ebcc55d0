import CapsTestSupport
import Foundation
import Testing

/// `capsinfer` on files shaped like users' files: the committed sample of `Fixtures/realworld`
/// (photos, scans, pencil, chalk, drawing-app exports, noisy 28x28; written by
/// `Tools/fixtures/make_realworld_digits.py --per-kind 4 --blanks 1 --seed 1` from held-out MNIST digits with
/// Pillow), and files that are not PNGs.
@Suite struct RealWorldDigitTests {
  struct Entry {
    var file: String
    var kind: String
    /// The digit, or "blank" for a control without one.
    var label: String
  }

  static func manifest() throws -> [Entry] {
    let text = try String(contentsOfFile: Fixtures.path("realworld/manifest.csv"), encoding: .utf8)
    return try CapsinferTests.csvRows(text).map {
      Entry(file: try #require($0["file"]), kind: try #require($0["kind"]), label: try #require($0["label"]))
    }
  }

  @Test func everyKindIsClassifiedAndEveryBlankIsNoDigit() throws {
    let entries = try Self.manifest()
    let digits = entries.filter { $0.label != "blank" }
    let kinds = Set(entries.map(\.kind))
    #expect(kinds.count == 10 && digits.count == 40 && entries.count == 50)
    let result = try runTool(
      "capsinfer", ["--format", "csv"] + entries.map { Fixtures.path("realworld/" + $0.file) })
    #expect(result.status == 1, "blank controls count as failed files")
    let rows = CapsinferTests.csvRows(result.stdout)
    try #require(rows.count == entries.count)

    var right: [String: Int] = [:]
    for (entry, row) in zip(entries, rows) {
      #expect(row["file"] == Fixtures.path("realworld/" + entry.file))
      if entry.label == "blank" {
        #expect(row["prediction"] == "", "\(entry.file) must not be classified")
        #expect(
          row["error"]?.hasPrefix("no digit found: the image is blank") == true, "\(entry.file): \(row)")
      } else {
        #expect(row["error"] == "", "\(entry.file): \(row["error"] ?? "")")
        if row["prediction"] == entry.label { right[entry.kind, default: 0] += 1 }
      }
    }
    // Floors: 3 of 4 in every kind, 38 of 40 in all (the preprocessing before this suite got 29% of a
    // 1000-file set of the same kinds; see docs/CAPSINFER.md for the full figures).
    for kind in kinds.sorted() {
      #expect(right[kind, default: 0] >= 3, "\(kind): \(right[kind, default: 0]) of 4")
    }
    #expect(right.values.reduce(0, +) >= 38, "\(right)")
    #expect(result.stderr.contains("40 files classified, 10 failed"), "\(result.stderr)")
  }

  @Test func otherImageFormatsAreNamed() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0, 16] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1]
    let gif = Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0]
    try Data(jpeg).write(to: folder.appendingPathComponent("photo.png"))
    try Data(jpeg).write(to: folder.appendingPathComponent("a.jpg"))
    try Data(jpeg).write(to: folder.appendingPathComponent("b.JPEG"))
    try Data(gif).write(to: folder.appendingPathComponent("c.gif"))
    try Data("notes".utf8).write(to: folder.appendingPathComponent("d.txt"))

    let named = try runTool("capsinfer", [folder.appendingPathComponent("photo.png").path])
    #expect(named.status == 1)
    #expect(named.stderr.contains("photo.png: JPEG file, not PNG"), "\(named.stderr)")

    let listed = try runTool("capsinfer", [folder.path])
    let summary = listed.stdout.split(separator: "\n").last.map(String.init) ?? ""
    #expect(summary.hasSuffix("; skipped 4 non-PNG files (2 JPEG, 1 GIF, 1 other)"), "\(summary)")
  }
}
