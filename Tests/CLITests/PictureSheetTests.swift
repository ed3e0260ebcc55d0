import CapsFormat
import CapsHDF5Writer
import CapsImage
import CapsTestSupport
import Foundation
import Testing

/// `capsinfer --perturb` and `--contact-sheet` (issue 19): the sheets are decoded and checked pixel by
/// pixel against the plain `--reconstruct` pictures of the same run, with the geometry written down
/// here from docs/CAPSINFER.md (not taken from the code).
@Suite struct PictureSheetTests {
  static let small = Fixtures.path("models/small.h5")
  static func digit(_ name: String) -> String { Fixtures.path("digits/" + name) }

  static func read(_ path: String) throws -> GrayImage {
    try PNGCodec.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), name: path)
  }

  /// The `size`x`size` block at (`x`, `y`).
  static func block(_ image: GrayImage, x: Int, y: Int, size: Int) -> [Float] {
    var values: [Float] = []
    for row in 0..<size {
      let start = (y + row) * image.width + x
      values += image.pixels[start..<(start + size)]
    }
    return values
  }

  /// docs/CAPSINFER.md: a left margin of 4 pixels per digit of the last dimension number plus 1, a
  /// 7-pixel top band, 1-pixel grid lines around `size`x`size` cells.
  struct SheetGeometry {
    var dimensions: Int
    var columns: Int
    var size: Int
    var left: Int { 4 * String(dimensions - 1).count + 1 }
    var width: Int { left + columns * (size + 1) + 1 }
    var height: Int { 7 + dimensions * (size + 1) + 1 }
    func cell(row: Int, column: Int) -> (x: Int, y: Int) {
      (left + 1 + column * (size + 1), 8 + row * (size + 1))
    }
  }

  /// Runs --perturb and --reconstruct on `digits`; checks each sheet's size, that its unperturbed
  /// column is the reconstruction byte for byte and that the other columns differ from it.
  func checkSheets(model: [String], digits: [String], extra: [String] = [], geometry: SheetGeometry) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let sheets = folder.appendingPathComponent("sheets").path
    let recon = folder.appendingPathComponent("recon").path
    let result = try runTool(
      "capsinfer", model + ["--perturb", sheets, "--reconstruct", recon] + extra + digits, timeout: 120)
    #expect(result.status == 0, "\(result.stderr)")
    for path in digits {
      let stem = String(URL(fileURLWithPath: path).lastPathComponent.dropLast(4))
      let sheet = try Self.read(sheets + "/" + stem + ".perturb.png")
      let pair = try Self.read(recon + "/" + stem + ".recon.png")
      let size = geometry.size
      #expect(
        sheet.width == geometry.width && sheet.height == geometry.height, "\(sheet.width)x\(sheet.height)")
      let reconstruction = Self.block(pair, x: size, y: 0, size: size)
      let centre = geometry.columns / 2
      var changed = 0
      for row in 0..<geometry.dimensions {
        let at = geometry.cell(row: row, column: centre)
        let differing = zip(Self.block(sheet, x: at.x, y: at.y, size: size), reconstruction).filter {
          $0 != $1
        }
        #expect(differing.isEmpty, "\(stem) dimension \(row): \(differing.count) pixels differ")
        let edge = geometry.cell(row: row, column: geometry.columns - 1)
        if Self.block(sheet, x: edge.x, y: edge.y, size: size) != reconstruction { changed += 1 }
        // The unperturbed column is framed in white; the others are separated by dark lines.
        #expect(sheet.pixels[at.y * sheet.width + at.x - 1] == 255)
        #expect(sheet.pixels[at.y * sheet.width + at.x + size] == 255)
        #expect(sheet.pixels[at.y * sheet.width + geometry.cell(row: row, column: 0).x - 1] == 48)
      }
      #expect(changed > 0, "no dimension's offset changed the reconstruction")
    }
  }

  @Test func standardModelSheetHasSixteenRowsOfElevenOffsets() throws {
    try checkSheets(
      model: [], digits: [Self.digit("d8001_gray8.png")],
      geometry: SheetGeometry(dimensions: 16, columns: 11, size: 28))
  }

  @Test func smallModelSheetFollowsTheRangeAndStep() throws {
    try checkSheets(
      model: ["--model", Self.small], digits: [Self.digit("d8002_gray8.png"), Self.digit("d8003_gray8.png")],
      extra: ["--perturb-range", "0.3", "--perturb-step", "0.1"],
      geometry: SheetGeometry(dimensions: 16, columns: 7, size: 28))
  }

  /// A random model of another shape: 20x20 inputs, 7-dimensional output capsules, 12 classes.
  @Test func sheetSizeFollowsAnotherConfiguration() throws {
    let configuration = CapsNetConfiguration(
      inputSize: 20, inputChannels: 1, conv1Channels: 8, conv1Kernel: 5, primaryKernel: 5, primaryStride: 2,
      primaryTypes: 4, primaryDimension: 6, outputCapsules: 12, outputDimension: 7, decoderWidths: [24, 400])
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("odd.h5").path
    try ModelFile.write(try Self.randomModel(configuration), to: path, overwrite: false)
    try checkSheets(
      model: ["--model", path], digits: [Self.digit("d8004_gray8.png")],
      geometry: SheetGeometry(dimensions: 7, columns: 11, size: 20))
  }

  static func randomModel(_ configuration: CapsNetConfiguration, decoder: Bool = true) throws -> CapsModel {
    var generator = SeededGenerator(seed: 19)
    var weights: [String: Tensor] = [:]
    for (key, shape) in configuration.expectedShapes {
      let fanIn = shape.count > 1 ? shape.dropFirst().reduce(1, *) : 4
      let scale = key.hasPrefix("digit_capsules") ? Float(1) : 2 / Float(fanIn).squareRoot()
      weights[key] = Tensor(shape: shape, values: generator.floats(shape.reduce(1, *), in: -scale...scale))
    }
    return try CapsModel(
      configuration: configuration, metadata: .reference(classCount: configuration.outputCapsules),
      weights: weights)
  }

  @Test func aModelWithoutDecoderIsRefused() throws {
    let small = try ModelFile.read(at: Self.small).0
    var configuration = small.configuration
    configuration.decoderWidths = []
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("nodecoder.h5").path
    try ModelFile.write(try Self.randomModel(configuration), to: path, overwrite: false)
    for option in [["--perturb", folder.path + "/p"], ["--contact-sheet", folder.path + "/c.png"]] {
      let result = try runTool("capsinfer", ["--model", path] + option + [Self.digit("d8000_gray8.png")])
      #expect(result.status == 64, "\(result.stderr)")
      #expect(result.stdout.isEmpty)
      #expect(result.stderr.contains("no decoder") && result.stderr.contains(option[0]), "\(result.stderr)")
    }
    #expect(!FileManager.default.fileExists(atPath: folder.path + "/p"))
  }

  // MARK: Contact sheet

  @Test func contactSheetPairsInputsWithReconstructionsAndMarksNoDigit() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let blank = folder.appendingPathComponent("blank.png").path
    try ImageFile.writePNG(try GrayImage(width: 28, height: 28, repeating: 0), toPath: blank)
    let digits = [Self.digit("d8002_gray8.png"), blank, Self.digit("d8003_gray8.png")]
    let sheetPath = folder.appendingPathComponent("sheet.png").path
    let recon = folder.appendingPathComponent("recon").path
    let result = try runTool(
      "capsinfer",
      ["--model", Self.small, "--format", "csv", "--contact-sheet", sheetPath, "--reconstruct", recon]
        + digits,
      timeout: 120)
    #expect(result.status == 1, "the blank file fails: \(result.stderr)")
    #expect(result.stderr.contains("no digit"))
    let sheet = try Self.read(sheetPath)
    // Three pairs in one row: 3 * (2 * 28 + 1) + 1 wide, 28 + 7 + 1 + 1 high.
    #expect(sheet.width == 172 && sheet.height == 37, "\(sheet.width)x\(sheet.height)")
    let rows = CapsinferTests.csvRows(result.stdout)
    for (index, path) in digits.enumerated() {
      let x = index * 57
      // The frame's top and bottom lines (its sides are shared with the neighbours).
      let marked = sheet.pixels[x + 10] == 255 && sheet.pixels[36 * sheet.width + x + 10] == 255
      let captionBackground = sheet.pixels[35 * sheet.width + x + 1]
      if path == blank {
        #expect(marked, "the no-digit file is marked")
        #expect(captionBackground == 255)
        #expect(Self.block(sheet, x: x + 1, y: 1, size: 28).allSatisfy { $0 == 96 }, "grey cells")
        continue
      }
      let stem = String(URL(fileURLWithPath: path).lastPathComponent.dropLast(4))
      let pair = try Self.read(recon + "/" + stem + ".recon.png")
      #expect(Self.block(sheet, x: x + 1, y: 1, size: 28) == Self.block(pair, x: 0, y: 0, size: 28), "input")
      #expect(
        Self.block(sheet, x: x + 29, y: 1, size: 28) == Self.block(pair, x: 28, y: 0, size: 28),
        "reconstruction")
      let row = try #require(rows.first { $0["file"] == path })
      let prediction = try #require(row["prediction"])
      let length = try #require(Double(row["length_\(prediction)"] ?? ""))
      #expect(marked == (length < 0.5), "\(stem): length \(length)")
      #expect(captionBackground == (length < 0.5 ? 255 : 0))
    }
  }

  @Test func contactSheetLimitAndExistingFiles() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let sheetPath = folder.appendingPathComponent("sheet.png").path
    let digits = [Self.digit("d8002_gray8.png"), Self.digit("d8003_gray8.png")]
    let one = try runTool(
      "capsinfer",
      ["--model", Self.small, "--contact-sheet", sheetPath, "--contact-sheet-limit", "1"] + digits,
      timeout: 120)
    #expect(one.status == 0, "\(one.stderr)")
    let sheet = try Self.read(sheetPath)
    #expect(sheet.width == 58 && sheet.height == 37, "\(sheet.width)x\(sheet.height)")
    // An existing file is refused before anything is classified, unless --force.
    let again = try runTool("capsinfer", ["--model", Self.small, "--contact-sheet", sheetPath] + digits)
    #expect(again.status == 1)
    #expect(again.stdout.isEmpty)
    #expect(again.stderr.contains("already exists"), "\(again.stderr)")
    let forced = try runTool(
      "capsinfer", ["--model", Self.small, "--contact-sheet", sheetPath, "--force"] + digits, timeout: 120)
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(try Self.read(sheetPath).width == 115)
    // An input is never the sheet, even with --force.
    let input = folder.appendingPathComponent("input.png").path
    try FileManager.default.copyItem(atPath: digits[0], toPath: input)
    let before = try Data(contentsOf: URL(fileURLWithPath: input))
    let overInput = try runTool(
      "capsinfer", ["--model", Self.small, "--contact-sheet", input, "--force", input], timeout: 120)
    #expect(overInput.status == 1)
    #expect(overInput.stderr.contains("is an input of this run"), "\(overInput.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
  }

  @Test(arguments: [
    ["--perturb-step", "0.1", "x.png"],
    ["--perturb", "d", "--perturb-step", "0", "x.png"],
    ["--perturb", "d", "--perturb-range", "nan", "x.png"],
    ["--perturb", "d", "--perturb-range", "1", "--perturb-step", "0.001", "x.png"],
    ["--contact-sheet-limit", "5", "x.png"],
    ["--contact-sheet", "c.png", "--contact-sheet-limit", "0", "x.png"],
  ])
  func badPictureOptionsExit64(arguments: [String]) throws {
    let result = try runTool("capsinfer", arguments)
    #expect(result.status == 64, "\(arguments): \(result.stderr)")
    #expect(result.stdout.isEmpty)
  }
}
