import CapsFormat
import CapsTestSupport
import Foundation
import Testing

/// `capsconv bench` on any model: built-in digits, synthetic input, the optional reference check.
@Suite struct BenchTests {
  private func json(_ stdout: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
  }

  @Test func runsWithoutReferenceOnBuiltInDigits() throws {
    let model = Fixtures.path("models/small.h5")
    let result = try runTool(
      "capsconv", ["bench", model, "--batch-size", "1", "--seconds", "0.05", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try json(result.stdout)
    #expect(report["input"] as? String == "digits")
    #expect(report["precision"] as? String == "fp32")
    #expect(report["convolution"] as? String == "winograd")  // the default for a 9 x 9 / 2 kernel
    #expect(report["batch_size"] as? Int == 1)
    for key in ["images_per_second", "latency_ms_median", "latency_ms_p90", "conv2_gflops"] {
      #expect((report[key] as? Double ?? 0) > 0, "\(key)")
    }
    #expect(report["kernel"] is String && report["threads"] is Int && report["arena_bytes"] is Int)
    // conv2 of the small model: 36 positions x 128 channels x 5184 inputs x 2 FLOP per image.
    let imagesPerSecond = report["images_per_second"] as? Double ?? 0
    let gflops = report["conv2_gflops"] as? Double ?? 0
    #expect(abs(gflops - 47_775_744 * imagesPerSecond / 1e9) <= 1e-6 * gflops)

    // The built-in digits are held-out MNIST digits 8000..8015: the small model (97.95% on the
    // held-out set) gets all 16 right, which it would not on scrambled or misdecoded pixels.
    let text = try runTool("capsconv", ["bench", model, "--batch-size", "16", "--seconds", "0.05"])
    #expect(text.status == 0)
    #expect(
      text.stdout.contains("labels       16 of 16 digits classified as their true label"), "\(text.stdout)")
    #expect(text.stdout.contains("test indices 8000..<8016"))
    #expect(text.stdout.contains("(fp32, winograd primary convolution)"), "\(text.stdout)")

    // Forced direct: the same digits right, and the JSON says which ran.
    let direct = try runTool(
      "capsconv", ["bench", model, "--batch-size", "16", "--seconds", "0.05", "--convolution", "direct"])
    #expect(direct.status == 0, "\(direct.stderr)")
    #expect(direct.stdout.contains("labels       16 of 16 digits classified as their true label"))
    #expect(direct.stdout.contains("(fp32, direct primary convolution)"), "\(direct.stdout)")
    let int8 = try runTool(
      "capsconv", ["bench", model, "--batch-size", "1", "--seconds", "0.05", "--precision", "int8", "--json"])
    #expect(try json(int8.stdout)["convolution"] as? String == "direct")
    let refused = try runTool(
      "capsconv", ["bench", model, "--precision", "int8", "--convolution", "winograd", "--seconds", "0.05"])
    #expect(refused.status == 64)
    #expect(refused.stderr.contains("--convolution winograd runs in fp32 only"), "\(refused.stderr)")
    let unknown = try runTool("capsconv", ["bench", model, "--convolution", "fft"])
    #expect(unknown.status == 64)
    #expect(unknown.stderr.contains("--convolution takes auto, direct or winograd"))
  }

  @Test func runsSyntheticInputForAModelThatIsNotMNISTShaped() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let configuration = CapsNetConfiguration(
      inputSize: 16, inputChannels: 3, conv1Channels: 8, conv1Kernel: 5, primaryKernel: 5, primaryStride: 2,
      primaryTypes: 4, primaryDimension: 4, outputCapsules: 3, outputDimension: 6, decoderWidths: [])
    var generator = SeededGenerator(seed: 3)
    var weights: [String: Tensor] = [:]
    for (key, shape) in configuration.expectedShapes {
      weights[key] = Tensor(shape: shape, values: generator.floats(shape.reduce(1, *), in: -0.2...0.2))
    }
    let model = try CapsModel(
      configuration: configuration, metadata: .reference(classCount: 3), weights: weights)
    let path = folder.appendingPathComponent("rgb.caps.h5").path
    try ModelFile.write(model, to: path, overwrite: false)
    let result = try runTool("capsconv", ["bench", path, "--batch-size", "3", "--seconds", "0.05", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(try json(result.stdout)["input"] as? String == "synthetic")
    // A 5 x 5 primary kernel runs direct; asking for Winograd is a clear refusal naming the model.
    #expect(try json(result.stdout)["convolution"] as? String == "direct")
    let winograd = try runTool("capsconv", ["bench", path, "--convolution", "winograd", "--seconds", "0.05"])
    #expect(winograd.status == 1)
    #expect(
      winograd.stderr.contains("rgb.caps.h5: the primary convolution (5x5, stride 2) cannot run as Winograd"),
      "\(winograd.stderr)")
    let text = try runTool("capsconv", ["bench", path, "--batch-size", "3", "--seconds", "0.05"])
    #expect(text.stdout.contains("16 synthetic images"))
    let int8 = try runTool(
      "capsconv", ["bench", path, "--precision", "int8", "--batch-size", "3", "--seconds", "0.05", "--json"])
    #expect(int8.status == 0, "\(int8.stderr)")
    #expect(try json(int8.stdout)["precision"] as? String == "int8")
    let fp16 = try runTool("capsconv", ["bench", path, "--precision", "fp16"])
    #expect(fp16.status == 64)
    #expect(fp16.stderr.contains("--precision takes fp32 or int8"))
  }

  @Test func referenceAddsThePredictionCheck() throws {
    let model = Fixtures.path("models/small.h5")
    let good = try runTool(
      "capsconv",
      [
        "bench", model, "--reference", Fixtures.path("activations/small.h5"), "--batch-size", "2",
        "--seconds", "0.05",
        "--json",
      ])
    #expect(good.status == 0, "\(good.stderr)")
    #expect(try json(good.stdout)["input"] as? String == "reference")
    // gram-ai's activations hold the same first digits, but that model predicts 7 for image 2,
    // where the small model (like the label) says 9.
    let other = try runTool(
      "capsconv",
      [
        "bench", model, "--reference", Fixtures.path("layouts/gram-ai.activations.h5"), "--batch-size", "3",
        "--seconds", "0.05",
      ])
    #expect(other.status == 2, "\(other.stderr)")
    #expect(other.stderr.contains("predicted classes differ from"), "\(other.stderr)")
  }
}
