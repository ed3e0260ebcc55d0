import CapsTestSupport
import Foundation
import Testing

/// `capsinfer` as a user runs it: the built binary's stdout, stderr and exit code.
///
/// Debug builds run the standard model at a few images per second, so each test classifies only a
/// handful of fixture files (the parity test: the ~100 fixture digits once).
@Suite struct CapsinferTests {
  /// One row of Fixtures/digits/expected.csv.
  struct Expected {
    var file: String
    var preprocess: String
    /// PyTorch's prediction and capsule lengths with the standard model.
    var prediction: String
    var lengths: [Double]
    /// PyTorch's prediction with the small model.
    var smallPrediction: String
  }

  static func expectedDigits() throws -> [Expected] {
    let text = try String(contentsOfFile: Fixtures.path("digits/expected.csv"), encoding: .utf8)
    return try csvRows(text).map { row in
      Expected(
        file: try #require(row["file"]), preprocess: try #require(row["preprocess"]),
        prediction: try #require(row["standard_prediction"]),
        lengths: try (0..<10).map { try #require(Double(row["standard_length_\($0)"] ?? "")) },
        smallPrediction: try #require(row["small_prediction"]))
    }
  }

  /// CSV output as dictionaries keyed by the header (the fixture paths hold no commas or quotes).
  static func csvRows(_ text: String) -> [[String: String]] {
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    guard !lines.isEmpty else { return [] }
    let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    return lines.map { line in
      let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      return Dictionary(
        uniqueKeysWithValues: zip(
          header, fields + Array(repeating: "", count: max(0, header.count - fields.count))))
    }
  }

  static func digit(_ name: String) -> String { Fixtures.path("digits/" + name) }

  /// PyTorch's results for one fixture digit (the fixtures are regenerated when the model is retrained,
  /// so tests take predictions from expected.csv rather than writing them down).
  static func expected(_ name: String) throws -> Expected {
    try #require(try expectedDigits().first { $0.file == name })
  }

  // MARK: Parity with PyTorch

  @Test func everyFixtureDigitMatchesPyTorch() throws {
    let expected = try Self.expectedDigits()
    #expect(expected.count >= 100)
    var checked = 0
    for (preprocess, group) in Dictionary(grouping: expected, by: \.preprocess) {
      let options = preprocess == "scale" ? ["--preprocess", "scale"] : []
      let result = try runTool(
        "capsinfer", ["--format", "csv"] + options + group.map { Self.digit($0.file) })
      #expect(result.status == 0, "\(result.stderr)")
      let rows = Self.csvRows(result.stdout)
      try #require(rows.count == group.count)
      for (row, want) in zip(rows, group) {
        #expect(row["file"] == Self.digit(want.file), "output order follows input order")
        #expect(row["error"] == "")
        #expect(row["prediction"] == want.prediction, "\(want.file)")
        for label in 0..<10 {
          let length = try #require(Double(row["length_\(label)"] ?? ""), "\(want.file) length_\(label)")
          #expect(abs(length - want.lengths[label]) <= 1e-5, "\(want.file) length_\(label)")
        }
        checked += 1
      }
    }
    #expect(checked == expected.count)
  }

  // MARK: Failures

  @Test func badFilesGetErrorRowsAndTheOthersAreClassified() throws {
    let bad = ["bad_crc.png", "huge_dimensions.png", "not_png.png", "truncated.png", "zero_size.png"]
      .map { Fixtures.path("bad/" + $0) }
    let missing = Fixtures.path("bad/does_not_exist.png")
    let good = Self.digit("d8000_gray8.png")
    let goodPrediction = try Self.expected("d8000_gray8.png").prediction
    let inputs = [bad[0], bad[1], good, bad[2], bad[3], bad[4], missing, good]
    let result = try runTool("capsinfer", ["--format", "csv"] + inputs)
    #expect(result.status == 1)
    let rows = Self.csvRows(result.stdout)
    try #require(rows.count == inputs.count)
    #expect(rows.map { $0["file"] } == inputs)
    for (row, input) in zip(rows, inputs) {
      if input == good {
        #expect(row["prediction"] == goodPrediction)
        #expect(row["error"] == "")
      } else {
        #expect(row["prediction"] == "", "\(input)")
        #expect(row["error"]?.isEmpty == false, "\(input)")
      }
    }
    let errorLines = result.stderr.split(separator: "\n").map(String.init)
    for input in inputs where input != good {
      let lines = errorLines.filter { $0.hasPrefix("capsinfer: \(input): ") }
      #expect(lines.count == 1, "one stderr line for \(input)")
    }
    #expect(result.stderr.contains("2 files classified, 6 failed"))
  }

  @Test func tableShowsTheRunnerUpAndTheErrors() throws {
    let good = Self.digit("d8000_gray8.png")
    let bad = Fixtures.path("bad/truncated.png")
    let result = try runTool("capsinfer", [good, bad])
    #expect(result.status == 1)
    let lines = result.stdout.split(separator: "\n").map(String.init)
    try #require(lines.count == 3, "stdout holds the header and the rows only: \(lines)")
    #expect(lines[0] == "prediction  length  2nd  length  file")
    // Columns line up with the titles; the numbers are PyTorch's best two, to 4 decimals.
    #expect(lines[1].count == lines[0].count - "file".count + good.count)
    #expect(lines[1].hasSuffix("  \(good)"))
    let columns = lines[1].split(separator: " ").map(String.init)
    try #require(columns.count == 5)
    let want = try Self.expected("d8000_gray8.png")
    let best = want.lengths.indices.sorted { want.lengths[$0] > want.lengths[$1] }
    #expect(columns[0] == want.prediction && columns[0] == String(best[0]))
    #expect(columns[2] == String(best[1]))
    #expect(abs((Double(columns[1]) ?? 0) - want.lengths[best[0]]) <= 0.6e-4)
    #expect(abs((Double(columns[3]) ?? 0) - want.lengths[best[1]]) <= 0.6e-4)
    #expect(lines[2].hasPrefix("         -       -    -       -  \(bad)  error: "))
    // The summary is on stderr, after the error line, whatever the format.
    let errors = result.stderr.split(separator: "\n").map(String.init)
    try #require(errors.count == 2, "\(errors)")
    #expect(errors[0].hasPrefix("capsinfer: \(bad): "))
    #expect(errors[1].hasPrefix("capsinfer: 1 file classified, 1 failed in "))
    #expect(errors[1].hasSuffix(" images/s)"))
  }

  @Test func jsonLinesCarryEveryLengthAndTheTopK() throws {
    let result = try runTool(
      "capsinfer",
      ["--format", "jsonl", "--top-k", "3", Self.digit("d8001_gray8.png"), Fixtures.path("bad/not_png.png")])
    #expect(result.status == 1)
    let lines = result.stdout.split(separator: "\n")
    try #require(lines.count == 2)
    let ok = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
    let want = try Self.expected("d8001_gray8.png")
    #expect(ok["prediction"] as? String == want.prediction)
    #expect(ok["class_index"] as? Int == Int(want.prediction))
    #expect(ok["error"] == nil)
    #expect((0..<10).allSatisfy { ok["length_\($0)"] is Double })
    let top = try #require(ok["top_k"] as? [[String: Any]])
    let best = want.lengths.indices.sorted { want.lengths[$0] > want.lengths[$1] }.prefix(3)
    #expect(top.map { $0["label"] as? String } == best.map { String($0) })
    #expect(top.map { $0["class_index"] as? Int } == best.map { $0 })
    #expect(top.first?["length"] as? Double == ok["length_\(best[0])"] as? Double)
    let failed = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
    #expect(failed["error"] as? String == "not a PNG file (bad signature)")
    #expect(failed["prediction"] == nil)
  }

  // MARK: Inputs

  @Test func pathsFromStandardInputInOrder() throws {
    let files = ["d8003_gray8.png", "d8001_gray8.png", "d8002_gray8.png"].map(Self.digit)
    // From another working directory: the built-in model is found beside the executable.
    let elsewhere = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: elsewhere) }
    let result = try runTool(
      "capsinfer", ["--format", "csv", "-"], input: files.joined(separator: "\n") + "\n\n", in: elsewhere)
    #expect(result.status == 0, "\(result.stderr)")
    let rows = Self.csvRows(result.stdout)
    #expect(rows.map { $0["file"] } == files)
    #expect(
      rows.map { $0["prediction"] }
        == (try ["d8003_gray8.png", "d8001_gray8.png", "d8002_gray8.png"].map {
          try Self.expected($0).prediction
        }))
  }

  @Test func directoriesAreSortedAndSkipNonPNGFiles() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let manager = FileManager.default
    try manager.copyItem(atPath: Self.digit("d8001_gray8.png"), toPath: folder.path + "/b.png")
    try manager.copyItem(atPath: Self.digit("d8003_gray8.png"), toPath: folder.path + "/A.PNG")
    try Data("notes".utf8).write(to: folder.appendingPathComponent("notes.txt"))
    try manager.createDirectory(atPath: folder.path + "/sub", withIntermediateDirectories: false)
    try manager.copyItem(atPath: Self.digit("d8002_gray8.png"), toPath: folder.path + "/sub/c.png")

    let flat = try runTool("capsinfer", ["--format", "csv", folder.path])
    #expect(flat.status == 0, "\(flat.stderr)")
    #expect(Self.csvRows(flat.stdout).map { $0["file"] } == ["/A.PNG", "/b.png"].map { folder.path + $0 })
    #expect(flat.stderr.contains("skipped 1 non-PNG file, 1 subdirectory (use --recursive)"))

    let deep = try runTool("capsinfer", ["--recursive", folder.path + "/"])
    #expect(deep.status == 0, "\(deep.stderr)")
    let rows = deep.stdout.split(separator: "\n").dropFirst()
    #expect(
      rows.map { $0.split(separator: " ").last.map(String.init) }
        == ["A.PNG", "b.png", "sub/c.png"].map { folder.path + "/" + $0 })
    let summary = deep.stderr.split(separator: "\n").last.map(String.init) ?? ""
    #expect(summary.hasPrefix("capsinfer: 3 files classified, 0 failed"))
    #expect(summary.hasSuffix("; skipped 1 non-PNG file"))
  }

  @Test func polarityIsDetectedUnlessForced() throws {
    let file = Self.digit("d8077_gray8_inv.png")  // dark ink on light
    func row(_ options: [String]) throws -> [String: String] {
      let result = try runTool("capsinfer", ["--format", "csv"] + options + [file])
      #expect(result.status == 0, "\(result.stderr)")
      return try #require(Self.csvRows(result.stdout).first)
    }
    let detected = try row([])
    #expect(detected["prediction"] == (try Self.expected("d8077_gray8_inv.png").prediction))
    #expect(try row(["--invert"]) == detected)
    #expect(try row(["--no-invert"])["length_0"] != detected["length_0"])
  }

  // MARK: Model

  @Test func aRawStateDictIsImportedInMemoryWithANote() throws {
    let result = try runTool(
      "capsinfer",
      ["--model", Fixtures.path("models/small.h5"), "--format", "csv", Self.digit("d8000_gray8.png")])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.contains("imported in memory with default metadata"))
    let expected = try #require(try Self.expectedDigits().first { $0.file == "d8000_gray8.png" })
    #expect(Self.csvRows(result.stdout).first?["prediction"] == expected.smallPrediction)
  }

  @Test func anUnreadableModelIsOneLineAndExitOne() throws {
    let model = Fixtures.path("bad/not_hdf5.h5")
    let result = try runTool("capsinfer", ["--model", model, Self.digit("d8000_gray8.png")])
    #expect(result.status == 1)
    #expect(result.stdout.isEmpty)
    #expect(result.stderr.hasPrefix("capsinfer: \(model): "))
    #expect(result.stderr.filter { $0 == "\n" }.count == 1)
  }

  // MARK: Reconstructions

  @Test func reconstructionsAreReadablePNGsWithUniqueNames() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let other = folder.appendingPathComponent("other").path
    try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      atPath: Self.digit("d8003_gray8.png"), toPath: other + "/d8000_gray8.png")
    let output = folder.appendingPathComponent("out").path
    let result = try runTool(
      "capsinfer", ["--reconstruct", output, Self.digit("d8000_gray8.png"), other + "/d8000_gray8.png"])
    #expect(result.status == 0, "\(result.stderr)")
    let written = try FileManager.default.contentsOfDirectory(atPath: output).sorted()
    #expect(written == ["d8000_gray8-2.recon.png", "d8000_gray8.recon.png"])
    for name in written {
      let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: output + "/" + name)))
      try #require(bytes.count > 24)
      #expect(bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
      func be32(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
      #expect(be32(16) == 56 && be32(20) == 28, "\(name) is 56x28")
    }
    // Readable: capsinfer itself decodes them.
    let reread = try runTool(
      "capsinfer", ["--format", "csv", "--preprocess", "scale"] + written.map { output + "/" + $0 })
    #expect(reread.status == 0, "\(reread.stderr)")
  }

  @Test func anUncreatableReconstructionDirectoryFailsBeforeClassifying() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let blocker = folder.appendingPathComponent("file").path
    try Data("x".utf8).write(to: URL(fileURLWithPath: blocker))
    let result = try runTool("capsinfer", ["--reconstruct", blocker + "/out", Self.digit("d8000_gray8.png")])
    #expect(result.status == 1)
    #expect(result.stdout.isEmpty)
    #expect(result.stderr.hasPrefix("capsinfer: \(blocker)/out: cannot create directory"))
  }

  // MARK: Usage

  @Test(arguments: [
    [String](),
    ["--format", "xml", "x.png"],
    ["--preprocess", "crop", "x.png"],
    ["--top-k", "0", "x.png"],
    ["--top-k", "2", "--format", "csv", "x.png"],
    ["--batch-size", "0", "x.png"],
    ["-", "-"],
    ["--no-such-option", "x.png"],
  ])
  func badUsageExits64(arguments: [String]) throws {
    let result = try runTool("capsinfer", arguments)
    #expect(result.status == 64, "\(arguments): \(result.stderr)")
    #expect(result.stdout.isEmpty)
  }

  @Test func helpDocumentsPreprocessingAndPolarity() throws {
    let result = try runTool("capsinfer", ["--help"])
    #expect(result.status == 0)
    for word in [
      "--preprocess <mode>", "mnist", "scale", "--invert", "--no-invert", "--format", "--top-k",
      "--reconstruct", "-",
    ] {
      #expect(result.stdout.contains(word), "\(word)")
    }
  }
}
