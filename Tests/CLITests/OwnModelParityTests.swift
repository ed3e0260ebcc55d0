import CapsFormat
import CapsTestSupport
import Foundation
import Testing

/// Parity against the user's own PyTorch module (Fixtures/parity, made by
/// Tools/fixtures/make_parity_fixtures.py): activations recorded from a types-major module and from a model
/// whose conv2 reaches the hundreds, and the checkpoint forms users save.
@Suite struct OwnModelParityTests {
  private static func parity(_ name: String) -> String { Fixtures.path("parity/\(name)") }

  private static func verifyJSON(_ arguments: [String]) throws -> (ToolResult, [String: Any]) {
    let result = try runTool("capsconv", ["verify"] + arguments + ["--json"])
    let json = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
    return (result, json)
  }

  private static func stage(_ json: [String: Any], _ name: String) -> [String: Any]? {
    let stages = (json["report"] as? [String: Any])?["stages"] as? [[String: Any]] ?? []
    return stages.first { $0["stage"] as? String == name }
  }

  /// The acceptance check: the types-major model passes only when imported as types-major, and the
  /// failure names the first stage where the orders part (primary: conv2 itself is the same numbers).
  @Test func typesMajorModelPassesOnlyWithItsOrder() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let reference = Self.parity("types_major.activations.h5")
    let right = folder.appendingPathComponent("right.caps.h5").path
    let wrong = folder.appendingPathComponent("wrong.caps.h5").path

    let imported = try runTool(
      "capsconv", ["import", Self.parity("types_major.pth"), "--primary-order", "types-major", "-o", right])
    #expect(imported.status == 0, "\(imported.stderr)")
    #expect(imported.stdout.contains("primary order: types-major (channel t*D + d; --primary-order"))
    #expect(imported.stdout.contains("cannot be read from a checkpoint"))
    #expect(try ModelFile.read(at: right).model.metadata.sourcePrimaryOrder == .typesMajor)
    let pass = try runTool("capsconv", ["verify", right, "--reference", reference])
    #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
    #expect(pass.stdout.contains("conv2 compared in the checkpoint's types-major order"))
    #expect(pass.stdout.contains("not in the reference file (not compared): conv1, u_hat, coupling"))
    #expect(pass.stdout.contains("predicted classes: 32/32 identical"))

    let assumed = try runTool("capsconv", ["import", Self.parity("types_major.pth"), "-o", wrong])
    #expect(assumed.status == 0, "\(assumed.stderr)")
    #expect(assumed.stdout.contains("primary order: dims-major (channel d*T + t; assumed"))
    #expect(assumed.stdout.contains("--primary-order types-major"))
    let fail = try runTool("capsconv", ["verify", wrong, "--reference", reference])
    #expect(fail.status == 2, "\(fail.stdout)\(fail.stderr)")
    #expect(fail.stdout.contains("FAIL: first failing stage: primary"))

    // The in-memory import of the raw checkpoint takes the same option.
    let (raw, json) = try Self.verifyJSON([
      Self.parity("types_major.pth"), "--reference", reference, "--primary-order", "types-major",
    ])
    #expect(raw.status == 0, "\(raw.stdout)\(raw.stderr)")
    #expect(json["passed"] as? Bool == true)
    let (rawWrong, wrongJSON) = try Self.verifyJSON([
      Self.parity("types_major.pth"), "--reference", reference,
    ])
    #expect(rawWrong.status == 2)
    #expect(wrongJSON["firstFailingStage"] as? String == "primary")
  }

  /// conv2 values in the hundreds pass with the default tolerances; the same model read in the
  /// wrong order fails at conv2.
  @Test func largeActivationsPassWithDefaultTolerancesAndMisorderFails() throws {
    let reference = Self.parity("large_conv2.activations.h5")
    let (pass, json) = try Self.verifyJSON([Self.parity("large_conv2.pth"), "--reference", reference])
    #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
    let conv2 = Self.stage(json, "conv2")
    #expect((conv2?["largestReference"] as? Double ?? 0) > 100, "\(String(describing: conv2))")
    #expect((conv2?["maxAbsoluteError"] as? Double ?? 1) > 0, "errors are rounding, not zero")
    #expect(conv2?["failingElements"] as? Int == 0)

    let (fail, failJSON) = try Self.verifyJSON([
      Self.parity("large_conv2.pth"), "--reference", reference, "--primary-order", "types-major",
    ])
    #expect(fail.status == 2)
    #expect(failJSON["firstFailingStage"] as? String == "primary")
    // Zero tolerance fails a correct model too (float32 sums differ): the tolerance is doing the work.
    let (strict, _) = try Self.verifyJSON([
      Self.parity("large_conv2.pth"), "--reference", reference, "--atol", "0", "--rtol", "0",
    ])
    #expect(strict.status == 2)
  }

  /// A tutorial checkpoint imports to the same tensors, bit for bit, as the plain state_dict.
  @Test func tutorialCheckpointImportsLikeThePlainStateDict() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let fromTutorial = folder.appendingPathComponent("tutorial.caps.h5").path
    let fromPlain = folder.appendingPathComponent("plain.caps.h5").path
    let tutorial = try runTool(
      "capsconv", ["import", Self.parity("types_major_tutorial.pth"), "-o", fromTutorial])
    #expect(tutorial.status == 0, "\(tutorial.stderr)")
    #expect(tutorial.stdout.contains("state_dict taken from 'model_state_dict'"))
    #expect(try runTool("capsconv", ["import", Self.parity("types_major.pth"), "-o", fromPlain]).status == 0)
    let a = try ModelFile.read(at: fromTutorial).model
    let b = try ModelFile.read(at: fromPlain).model
    #expect(a.configuration == b.configuration)
    for key in b.orderedKeys {
      #expect(a.tensor(key).values.map(\.bitPattern) == b.tensor(key).values.map(\.bitPattern), "\(key)")
    }
  }

  @Test func keyPicksOneOfSeveralStateDicts() throws {
    let file = Self.parity("two_models.pth")
    let ambiguous = try runTool("capsconv", ["inspect", file])
    #expect(ambiguous.status == 1)
    #expect(ambiguous.stderr.contains("'student', 'teacher'"), "\(ambiguous.stderr)")
    #expect(ambiguous.stderr.contains("pass --key NAME"))
    let plain = try ModelFile.read(at: Self.parity("types_major.pth")).model
    var options = ModelFile.ReadOptions()
    options.stateDictKey = "student"
    let student = try ModelFile.read(at: file, options: options).model
    options.stateDictKey = "teacher"
    let teacher = try ModelFile.read(at: file, options: options).model
    for key in plain.orderedKeys {
      #expect(student.tensor(key).values == plain.tensor(key).values, "\(key)")
    }
    #expect(teacher.tensor("conv2.bias").values == plain.tensor("conv2.bias").values.map { $0 + 1 })
    #expect(teacher.tensor("conv2.weight").values == plain.tensor("conv2.weight").values)
    let missing = try runTool("capsconv", ["inspect", file, "--key", "model"])
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("no entry 'model' (--key)"), "\(missing.stderr)")
  }

  @Test func pickledModuleIsRefusedWithTheHint() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("out.caps.h5").path
    let result = try runTool("capsconv", ["import", Self.parity("pickled_module.pth"), "-o", output])
    #expect(result.status == 1)
    #expect(result.stderr.contains("save model.state_dict() instead"), "\(result.stderr)")
    #expect(result.stderr.contains("TypesMajorCapsNet"))
    #expect(!FileManager.default.fileExists(atPath: output))
  }

  @Test func primaryOrderIsRefusedWhereTheOrderIsKnown() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let modelFile = folder.appendingPathComponent("m.caps.h5").path
    #expect(try runTool("capsconv", ["import", Self.parity("types_major.pth"), "-o", modelFile]).status == 0)
    let again = try runTool(
      "capsconv", ["import", modelFile, "--primary-order", "types-major", "-o", modelFile + ".2"])
    #expect(again.status == 1)
    #expect(again.stderr.contains("already in the reference primary order"), "\(again.stderr)")
    let gramAI = try runTool(
      "capsconv",
      [
        "import", Fixtures.path("layouts/gram-ai.pth"), "--primary-order", "types-major", "-o",
        modelFile + ".3",
      ])
    #expect(gramAI.status == 1)
    #expect(try runTool("capsconv", ["import", modelFile, "--primary-order", "sideways"]).status == 64)
  }

  /// The user's own PNG files, recorded as record_activations.py decodes them (16-bit gray, so the
  /// values v/257 are not integers and the file carries float32 pixels): verify passes, and
  /// capsinfer, decoding the files itself, predicts what the user's module predicted.
  @Test func ownPNGFilesRecordedByTheModuleAgreeWithCapsinfer() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let reference = Self.parity("png16.activations.h5")
    let activations = try ReferenceActivations.read(at: reference)
    #expect(activations.pixels.values.contains { $0 != $0.rounded() })
    let (pass, _) = try Self.verifyJSON([
      Self.parity("types_major.pth"), "--reference", reference, "--primary-order", "types-major",
    ])
    #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")

    let model = folder.appendingPathComponent("m.caps.h5").path
    let imported = try runTool(
      "capsconv", ["import", Self.parity("types_major.pth"), "--primary-order", "types-major", "-o", model])
    #expect(imported.status == 0, "\(imported.stderr)")
    let files = activations.indices.map { Self.parity("png16/d\($0)_gray16.png") }
    #expect(files.count == activations.count)
    let classified = try runTool("capsinfer", ["--model", model, "--format", "csv"] + files)
    #expect(classified.status == 0, "\(classified.stderr)")
    let rows = classified.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
    #expect(rows.map { String($0[0]) } == files)
    #expect(rows.map { Int($0[1]) ?? -1 } == activations.predictions)
  }
}
