import CapsFormat
import CapsHDF5Writer
import CapsTestSupport
import Foundation
import Testing

/// Issue 12's memory and number classes, through the tools: bounded threads and plans, and results
/// that are not finite reported as errors, never as predictions.
@Suite struct HostileInputCLITests {
  static let digit = Fixtures.path("digits/d8000_gray8.png")

  /// Writes a model of `configuration` with every weight `value` to `folder/name`.
  static func writeModel(
    _ configuration: CapsNetConfiguration, value: Float, in folder: URL, name: String = "model.caps.h5"
  ) throws -> String {
    let model = try uniformModel(configuration, value: value)
    let path = folder.appendingPathComponent(name).path
    try ModelFile.write(model, to: path, overwrite: false)
    return path
  }

  /// 28x28 input, conv1 4@9x9, primary 2 types x 4D (9x9, stride 2): a 6x6 grid, 10 outputs x 4D.
  static let small = CapsNetConfiguration(
    inputSize: 28, inputChannels: 1, conv1Channels: 4, conv1Kernel: 9, primaryKernel: 9, primaryStride: 2,
    primaryTypes: 2, primaryDimension: 4, outputCapsules: 10, outputDimension: 4, decoderWidths: [])

  @Test func threadsAreCappedAt64() throws {
    for (tool, arguments) in [
      ("capsinfer", [Self.digit, "--threads", "65"]),
      ("capsconv", ["verify", "m.h5", "--reference", "r.h5", "--threads", "65"]),
      ("capsconv", ["bench", "m.h5", "--reference", "r.h5", "--threads", "0"]),
    ] {
      let result = try runTool(tool, arguments)
      #expect(result.status == 64, "\(tool) \(arguments)")
      #expect(result.stderr.contains("--threads takes 1...64"), "\(result.stderr)")
    }
  }

  /// One digit on 64 threads: the plan is for one image, whatever the thread count.
  @Test func oneDigitOn64Threads() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try Self.writeModel(Self.small, value: 0.01, in: folder)
    let result = try runTool(
      "capsinfer", ["--model", model, "--threads", "64", "--format", "csv", Self.digit])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.split(separator: "\n").count == 2)
  }

  /// Weights of 1e30 overflow Float in the first convolution: every length is NaN. That is an error
  /// row and exit 1 (it was prediction 0, exit 0).
  @Test func nonFiniteLengthsAreAnErrorRow() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try Self.writeModel(Self.small, value: 1e30, in: folder)
    let result = try runTool("capsinfer", ["--model", model, "--format", "csv", Self.digit])
    #expect(result.status == 1)
    let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 3 && lines[1].hasPrefix(Self.digit + ",,"), "\(result.stdout)")
    #expect(lines[1].contains("non-finite capsule lengths"))
    #expect(result.stderr.contains("non-finite capsule lengths"))
  }

  /// 1x1 kernels on an 8192x8192 input: a 5 KB model whose working memory for one image is
  /// 2.5 GiB. Refused before allocating (it asked for 14.5 GB), the size in the message.
  @Test func aModelNeedingTooMuchWorkingMemoryIsRefused() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let huge = CapsNetConfiguration(
      inputSize: 8192, inputChannels: 1, conv1Channels: 8, conv1Kernel: 1, primaryKernel: 1,
      primaryStride: 8192, primaryTypes: 1, primaryDimension: 8, outputCapsules: 2, outputDimension: 4,
      decoderWidths: [])
    let model = try Self.writeModel(huge, value: 0.5, in: folder)
    let result = try runTool("capsinfer", ["--model", model, Self.digit])
    #expect(result.status == 1)
    #expect(
      result.stderr.contains("GiB of working memory for a batch of 1 image, more than the 1.0 GiB allowed"))
  }

  /// Numbers valid as Double but not in Float, the runtime's precision.
  @Test func aNormalisationThatOverflowsFloatIsRefused() throws {
    for value in ["0,1e-45", "1e300,1", "0,1e-300"] {
      let result = try runTool("capsconv", ["import", "model.h5", "--normalize", value])
      #expect(result.status == 64, "\(value)")
      #expect(
        result.stderr.contains("not finite in Float") || result.stderr.contains("positive STD"),
        "\(result.stderr)")
    }
  }
}

/// Class labels name CSV columns and JSON keys: empty or repeated ones are refused at import and
/// when a model file's metadata is read.
@Suite struct ClassLabelTests {
  @Test(arguments: [
    ("a,b,c,d,e,f,g,h,i,a", "class label 'a' is given twice (classes 0 and 9)"),
    ("0,1,2,3,,5,6,7,8,9", "class label 4 is empty"),
  ])
  func badLabelsAreRefusedAtImport(labels: String, expected: String) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try HostileInputCLITests.writeModel(HostileInputCLITests.small, value: 0.01, in: folder)
    let output = folder.appendingPathComponent("out.caps.h5").path
    let result = try runTool("capsconv", ["import", model, "--labels", labels, "-o", output])
    #expect(result.status == 1)
    #expect(result.stderr.contains(expected), "\(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: output))
  }

  @Test func badLabelsAreRefusedWhenReading() throws {
    let c = HostileInputCLITests.small
    let weights = try uniformModel(c, value: 0).weights
    var metadata = ModelMetadata.reference(classCount: 10)
    metadata.classLabels[3] = "7"
    #expect(metadata.validate(classCount: 10) == ["class label '7' is given twice (classes 3 and 7)"])
    #expect(throws: (any Error).self) {
      try CapsModel(configuration: c, metadata: metadata, weights: weights)
    }
  }
}
