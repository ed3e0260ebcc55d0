import CapsTestSupport
import Foundation
import Testing

/// `capsconv` as a user runs it: exit codes, stdout and stderr of the built binary.
@Suite struct CapsconvTests {
  @Test func importWritesBesideTheInputAndRefusesToOverwrite() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let input = folder.appendingPathComponent("small.h5").path
    try FileManager.default.copyItem(atPath: Fixtures.path("models/small.h5"), toPath: input)
    let first = try runTool(
      "capsconv", ["import", input, "--iterations", "4", "--labels", "a,b,c,d,e,f,g,h,i,j"])
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stdout.contains("conv1 64@9x9, primary 16 types x 8D"))
    #expect(first.stdout.contains("wrote:         \(folder.path)/small.caps.h5"))
    let again = try runTool("capsconv", ["import", input])
    #expect(again.status == 1)
    #expect(
      again.stderr == "capsconv: \(folder.path)/small.caps.h5: already exists (use --force to replace it)\n")
    let forced = try runTool("capsconv", ["import", input, "--force"])
    #expect(forced.status == 0)
    let sameFile = try runTool("capsconv", ["import", input, "-o", input, "--force"])
    #expect(sameFile.status == 1)
    #expect(sameFile.stderr.contains("is the input file"))
  }

  @Test func inspectReportsTheStandardModel() throws {
    let result = try runTool("capsconv", ["inspect", Fixtures.path("models/standard.h5"), "--json"])
    #expect(result.status == 0)
    let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    #expect(json?["parameters"] as? Int == 8_215_568)
    #expect(json?["input_capsules"] as? Int == 1152)
    let configuration = json?["configuration"] as? [String: Any]
    #expect(configuration?["primary_types"] as? Int == 32)
    #expect((json?["tensors"] as? [Any])?.count == 11)
    let table = try runTool("capsconv", ["inspect", Fixtures.path("models/small.h5")])
    #expect(table.stdout.contains("primary capsules  16 types x 8D = 576 capsules"))
    #expect(table.stdout.contains("conv2.weight             [128, 64, 9, 9]"))
  }

  @Test(arguments: [
    "not_hdf5.h5", "empty.h5", "truncated.h5", "missing_key.h5", "wrong_shape.h5", "int_dtype.h5",
    "nan_weights.h5",
    "inconsistent_layers.h5",
  ])
  func badModelsExitOneWithOneLineAndNoOutput(file: String) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("out.caps.h5").path
    let result = try runTool("capsconv", ["import", Fixtures.path("bad/\(file)"), "-o", output])
    #expect(result.status == 1)
    #expect(result.stdout.isEmpty)
    #expect(result.stderr.hasPrefix("capsconv: \(Fixtures.path("bad/\(file)")): "))
    #expect(result.stderr.filter { $0 == "\n" }.count == 1)
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
  }

  @Test func verifyPassesOnTheSmallModelAndFailsWithATightTolerance() throws {
    let model = Fixtures.path("models/small.h5")
    let reference = Fixtures.path("activations/small.h5")
    let pass = try runTool("capsconv", ["verify", model, "--reference", reference])
    #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
    #expect(pass.stdout.contains("predicted classes: 16/16 identical"))
    #expect(pass.stdout.contains("primary convolution: winograd"))
    let direct = try runTool(
      "capsconv", ["verify", model, "--reference", reference, "--convolution", "direct", "--json"])
    #expect(direct.status == 0, "\(direct.stderr)")
    let report = try JSONSerialization.jsonObject(with: Data(direct.stdout.utf8)) as? [String: Any]
    #expect((report?["report"] as? [String: Any])?["convolution"] as? String == "direct")
    let fail = try runTool(
      "capsconv", ["verify", model, "--reference", reference, "--atol", "0", "--rtol", "0", "--json"])
    #expect(fail.status == 2)
    let json = try JSONSerialization.jsonObject(with: Data(fail.stdout.utf8)) as? [String: Any]
    #expect(json?["passed"] as? Bool == false)
    let wrongReference = try runTool(
      "capsconv", ["verify", model, "--reference", Fixtures.path("activations/standard.h5")])
    #expect(wrongReference.status == 2 || wrongReference.status == 1)
  }

  @Test func exportGivesBackAPlainStateDict() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let modelFile = folder.appendingPathComponent("m.caps.h5").path
    let exported = folder.appendingPathComponent("plain.h5").path
    #expect(
      try runTool("capsconv", ["import", Fixtures.path("models/small.h5"), "-o", modelFile]).status == 0)
    let result = try runTool("capsconv", ["export", modelFile, "-o", exported])
    #expect(result.status == 0)
    let inspect = try runTool("capsconv", ["inspect", exported])
    #expect(inspect.stdout.contains("plain state_dict"))
  }

  @Test func badUsageExits64() throws {
    #expect(try runTool("capsconv", ["import"]).status == 64)
    #expect(try runTool("capsconv", ["import", "x.h5", "--normalize", "1"]).status == 64)
    #expect(try runTool("capsconv", ["frobnicate"]).status == 64)
  }

  /// A full disk (here a file-size limit) fails the write cleanly: exit 1, old file kept, nothing left behind.
  @Test func fullDiskKeepsTheOldFileAndLeavesNoTemporary() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("model.caps.h5").path
    try Data("old".utf8).write(to: URL(fileURLWithPath: output))
    let tool = Fixtures.productsDirectory.appendingPathComponent("capsconv").path
    let script =
      "ulimit -f 1000; exec '\(tool)' import '\(Fixtures.path("models/small.h5"))' -o '\(output)' --force"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", script]
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 1)
    #expect(message == "capsconv: \(output): cannot write: File too large\n")
    #expect(try String(contentsOfFile: output, encoding: .utf8) == "old")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.caps.h5"])
  }
}
