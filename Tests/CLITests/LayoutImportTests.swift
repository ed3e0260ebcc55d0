import CapsFormat
import CapsTestSupport
import Foundation
import Testing

/// `capsconv import` of `.pth` checkpoints and of other implementations' layouts, as a user runs it.
@Suite struct LayoutImportTests {
  /// The acceptance check through the CLI: importing the small model's `.pth` writes the same tensors,
  /// bit for bit, as importing its HDF5 export.
  @Test func importingThePthGivesTheSameModelFileAsTheHDF5() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let fromPth = folder.appendingPathComponent("pth.caps.h5").path
    let fromHDF5 = folder.appendingPathComponent("h5.caps.h5").path
    let pth = try runTool("capsconv", ["import", Fixtures.path("pth/small.pth"), "-o", fromPth])
    #expect(pth.status == 0, "\(pth.stderr)")
    #expect(pth.stdout.contains("layout:        reference (detected; labml reference)"))
    let hdf5 = try runTool("capsconv", ["import", Fixtures.path("models/small.h5"), "-o", fromHDF5])
    #expect(hdf5.status == 0, "\(hdf5.stderr)")
    let (a, provenanceA) = try ModelFile.read(at: fromPth)
    let (b, _) = try ModelFile.read(at: fromHDF5)
    #expect(provenanceA.hasMetadata)
    #expect(a.configuration == b.configuration)
    for key in b.orderedKeys {
      #expect(a.tensor(key).shape == b.tensor(key).shape)
      #expect(a.tensor(key).values.map(\.bitPattern) == b.tensor(key).values.map(\.bitPattern), "\(key)")
    }
    #expect(a.metadata.sourceName == "small.pth")
  }

  @Test(arguments: [
    "hostile_system.pth", "hostile_eval.pth", "hostile_nested.pth", "hostile_legacy.pth", "traversal.pth",
    "lying_size.pth",
  ])
  func hostileArchivesExitOneAndWriteNothing(file: String) throws {
    try? FileManager.default.removeItem(atPath: "/tmp/capskit-hostile-pickle-ran")
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("out.caps.h5").path
    let result = try runTool("capsconv", ["import", Fixtures.path("pth/\(file)"), "-o", output], in: folder)
    #expect(result.status == 1)
    #expect(result.stdout.isEmpty)
    #expect(result.stderr.hasPrefix("capsconv: \(Fixtures.path("pth/\(file)")): "))
    #expect(result.stderr.filter { $0 == "\n" }.count == 1)
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    #expect(!FileManager.default.fileExists(atPath: "/tmp/capskit-hostile-pickle-ran"))
    #expect(
      !FileManager.default.fileExists(
        atPath: folder.deletingLastPathComponent().appendingPathComponent("escaped.txt").path))
  }

  @Test(arguments: [
    ("gram-ai.pth", "gram-ai.activations.h5", "gram-ai (detected; gram-ai/capsule-networks)"),
    ("keras_weights.h5", "keras.activations.h5", "keras (detected; XifengGuo/CapsNet-Keras)"),
    ("keras_model.h5", "keras.activations.h5", "keras (detected; XifengGuo/CapsNet-Keras)"),
  ])
  func convertedLayoutsMatchTheirOwnReferenceCode(file: String, activations: String, layout: String) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = folder.appendingPathComponent("m.caps.h5").path
    let imported = try runTool("capsconv", ["import", Fixtures.path("layouts/\(file)"), "-o", model])
    #expect(imported.status == 0, "\(imported.stderr)")
    #expect(imported.stdout.contains("layout:        \(layout)"))
    #expect(imported.stdout.contains("(converted to the reference layout)"))
    // Verify both the checkpoint itself (converted on reading) and the imported model file.
    for path in [Fixtures.path("layouts/\(file)"), model] {
      let verify = try runTool(
        "capsconv", ["verify", path, "--reference", Fixtures.path("layouts/\(activations)"), "--json"])
      #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
      let json = try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any]
      #expect(json?["passed"] as? Bool == true)
      let report = json?["report"] as? [String: Any]
      #expect((report?["stages"] as? [Any])?.count == 9)
      #expect((report?["mismatched_images"] as? [Any])?.isEmpty == true)
    }
  }

  @Test func theLayoutOptionIsCheckedAndReported() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("m.caps.h5").path
    let forced = try runTool(
      "capsconv", ["import", Fixtures.path("layouts/gram-ai.pth"), "--layout", "gram-ai", "-o", output])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(forced.stdout.contains("layout:        gram-ai (--layout; gram-ai/capsule-networks)"))
    let wrong = try runTool(
      "capsconv",
      ["import", Fixtures.path("layouts/gram-ai.pth"), "--layout", "reference", "-o", output, "--force"])
    #expect(wrong.status == 1)
    #expect(wrong.stderr.contains("missing tensor 'conv2.weight'"))
    #expect(try runTool("capsconv", ["import", "x.pth", "--layout", "tensorflow"]).status == 64)
  }

  @Test(arguments: ["jindongwang.pth", "adambielski.pth"])
  func unconvertibleLayoutsExitOneSayingWhy(file: String) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("out.caps.h5").path
    let result = try runTool("capsconv", ["import", Fixtures.path("layouts/\(file)"), "-o", output])
    #expect(result.status == 1)
    #expect(result.stderr.contains("layout, which cannot be converted to the reference"))
    #expect(result.stderr.filter { $0 == "\n" }.count == 1)
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
  }
}
