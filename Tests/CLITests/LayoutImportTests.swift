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
    "hostile_system.pth", "hostile_eval.pth", "hostile_nested.pth", "traversal.pth", "lying_size.pth",
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
}
