import CapsTestSupport
import Foundation
import Testing

/// `--precision int8` on capsconv verify and capsinfer.
@Suite struct Int8CLITests {
  /// verify --precision int8 reports agreement with the reference (PyTorch fp32) instead of
  /// per-element tolerances, and fails (exit 2) when the agreement asked for is not reached.
  @Test func verifyReportsAgreementAndAccuracy() throws {
    let arguments = [
      "verify", Fixtures.path("models/small.h5"), "--reference", Fixtures.path("activations/small.h5"),
      "--precision", "int8", "--json",
    ]
    let result = try runTool("capsconv", arguments)
    #expect(result.status == 0, "\(result.stderr)")
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    #expect(report["images"] as? Int == 16)
    #expect(report["agreeing"] as? Int == 16)
    #expect(report["int8_accuracy"] as? Double ?? report["int8Accuracy"] as? Double == 1)
    let lengthError = try #require(
      report["max_length_error"] as? Double ?? report["maxLengthError"] as? Double)
    #expect(lengthError > 0 && lengthError < 0.01, "int8 is not bitwise fp32, but close: \(lengthError)")
    // fp32 verification of the same files still uses the per-element tolerances.
    let fp32 = try runTool("capsconv", Array(arguments.dropLast(3)))
    #expect(fp32.status == 0)
    #expect(fp32.stdout.contains("PASS"))
    let bad = try runTool("capsconv", Array(arguments.dropLast(3)) + ["--precision", "int4"])
    #expect(bad.status == 64)
  }

  /// capsinfer --precision int8 classifies held-out digits as fp32 does.
  @Test func capsinferInt8MatchesFp32() throws {
    let files = (8000..<8006).map { Fixtures.path("digits/d\($0)_gray8.png") }
    let fp32 = try runTool("capsinfer", ["--format", "csv"] + files)
    let int8 = try runTool("capsinfer", ["--format", "csv", "--precision", "int8"] + files)
    #expect(fp32.status == 0 && int8.status == 0, "\(int8.stderr)")
    func predictions(_ csv: String) -> [String] {
      csv.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[1]) }
    }
    #expect(predictions(int8.stdout).count == 6)
    #expect(predictions(int8.stdout) == predictions(fp32.stdout))
  }
}
