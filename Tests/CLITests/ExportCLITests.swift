import CapsFormat
import CapsTestSupport
import Foundation
import Testing

/// `capsconv export`: formats from the extension, refusals on one line with their exit codes,
/// nothing partial left behind, and the import options the notes print restoring the metadata.
@Suite struct ExportCLITests {
  func files(in folder: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
  }

  @Test func badArgumentsGiveOneLineAndLeaveNothing() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = Fixtures.path("models/small.h5")
    func out(_ name: String) -> String { folder.appendingPathComponent(name).path }
    let cases: [([String], Int32, String)] = [
      (["export", model, "-o", out("m.bin")], 64, "cannot tell the format"),
      (["export", model, "-o", out("m.h5"), "--format", "tflite"], 64, "unknown format 'tflite'"),
      (["export", model, "-o", out("m.h5"), "--layout", "caffe"], 64, "unknown layout 'caffe'"),
      (["export", model, "-o", out("m.onnx"), "--layout", "keras"], 64, "ONNX holds the inference graph"),
      (["export", model, "-o", out("m.pth"), "--layout", "keras"], 64, "Keras HDF5 weights"),
      // The small model routes over the input capsules with epsilon 1e-8 and MNIST normalisation.
      (
        ["export", model, "-o", out("m.h5"), "--layout", "keras"], 1,
        "XifengGuo/CapsNet-Keras cannot express this model: XifengGuo/CapsNet-Keras takes the routing softmax over the output capsules"
      ),
      (
        ["export", model, "-o", out("m.pth"), "--layout", "gram-ai"], 1,
        "squashes with epsilon 0.0, this model with 1e-08"
      ),
      (["export", model, "-o", model], 1, "is the input file"),
    ]
    for (arguments, status, message) in cases {
      let result = try runTool("capsconv", arguments)
      #expect(result.status == status, "\(arguments): \(result.stderr)")
      #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
      #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
      let left = try files(in: folder)
      #expect(left.isEmpty, "\(arguments) left \(left)")
    }
    // An existing output is kept without --force.
    let existing = out("kept.pth")
    try Data("old".utf8).write(to: URL(fileURLWithPath: existing))
    let refused = try runTool("capsconv", ["export", model, "-o", existing])
    #expect(refused.status == 1 && refused.stderr.contains("already exists"))
    #expect(try Data(contentsOf: URL(fileURLWithPath: existing)) == Data("old".utf8))
    #expect(try files(in: folder) == ["kept.pth"])
  }

  /// A Keras model exported as a reference .pth: the note names the import options, and importing
  /// with them gives back the same model file (weights and metadata), bit for bit.
  @Test func notesRestoreTheMetadata() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    func out(_ name: String) -> String { folder.appendingPathComponent(name).path }
    #expect(
      try runTool("capsconv", ["import", Fixtures.path("layouts/keras_weights.h5"), "-o", out("k.caps.h5")])
        .status
        == 0)
    let export = try runTool("capsconv", ["export", out("k.caps.h5"), "-o", out("k.pth")])
    #expect(export.status == 0, "\(export.stderr)")
    #expect(export.stdout.contains("pth, reference layout, 11 tensors"))
    let prefix = "note: import it back with: capsconv import FILE "
    let line = try #require(export.stderr.split(separator: "\n").first { $0.contains(prefix) })
    let options = line[line.range(of: prefix)!.upperBound...].split(separator: " ").map(String.init)
    #expect(options.contains("output_capsules"))
    let again = try runTool("capsconv", ["import", out("k.pth"), "-o", out("k2.caps.h5")] + options)
    #expect(again.status == 0, "\(again.stderr)")
    let first = try runTool("capsconv", ["inspect", out("k.caps.h5"), "--json"]).stdout
    let second = try runTool("capsconv", ["inspect", out("k2.caps.h5"), "--json"]).stdout
    // Everything but the source provenance (file name and digest) is identical.
    func withoutSource(_ json: String) -> [String] {
      json.split(separator: "\n").map(String.init).filter {
        !$0.contains("source") && !$0.contains("\"file\"")
      }
    }
    #expect(withoutSource(first) == withoutSource(second))
    // And the weights are the same bits.
    let (a, _) = try ModelFile.read(at: out("k.caps.h5"))
    let (b, _) = try ModelFile.read(at: out("k2.caps.h5"))
    #expect(a.metadata.classLabels == b.metadata.classLabels && a.configuration == b.configuration)
    for key in a.orderedKeys {
      let same = a.tensor(key).values.withUnsafeBytes { x in
        b.tensor(key).values.withUnsafeBytes { Data(x) == Data($0) }
      }
      #expect(same, "\(key) differs")
    }
    // The Keras layout back from the same file is accepted without --allow-differences.
    let keras = try runTool(
      "capsconv", ["export", out("k.caps.h5"), "-o", out("k.keras.h5"), "--layout", "keras"])
    #expect(keras.status == 0, "\(keras.stderr)")
    #expect(keras.stderr.isEmpty)
  }
}
