import ArgumentParser
import CapsFormat
import CapsRuntime
import CapsVerify
import Foundation

extension CapsConv {
  /// `capsconv verify`: the runtime against reference activations, stage by stage.
  struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Compare the runtime with reference activations stage by stage.",
      discussion:
        "Each element must satisfy |runtime - reference| <= atol + rtol * |reference| (NumPy's allclose); atol defaults to 1e-4 times the stage's largest |reference| (1e-5 on the lengths), so the check holds at any scale. Stages the reference file does not carry are listed and not compared. Exit 0 when every stage is within tolerance and every predicted class matches, 2 otherwise (the first failing stage is named), 1 on invalid input."
    )

    @Argument(
      help: "A CapsKit model file, or a checkpoint (.pth, HDF5 state_dict, Keras HDF5) converted in memory.")
    var model: String

    @Option(
      help:
        "Reference activations (HDF5 written by Tools/user/record_activations.py from your own module, or Tools/fixtures/make_activations.py)."
    )
    var reference: String

    @Option(help: "Relative tolerance per element, on every stage but the lengths.")
    var rtol: Double = 1e-4

    @Option(help: "Absolute tolerance per element (default: 1e-4 x the stage's largest |reference|).")
    var atol: Double?

    @Option(
      help: "Relative tolerance on the capsule lengths (their atol: 1e-5 x the largest length, or --atol).")
    var lengthRtol: Double = 1e-5

    @Option(
      help:
        "A raw checkpoint's primary-capsule order: dims-major (labml, channel d*T+t) or types-major (t*D+d); see capsconv import."
    )
    var primaryOrder: String?

    @Option(help: "The entry of a torch.save checkpoint dict that holds the state_dict.")
    var key: String?

    @Option(help: "Threads, 1...64 (default: one per processor, at most 16).")
    var threads: Int?

    @Option(
      help: """
        fp32 (stage by stage, the tolerances above), or int8: the int8 runtime's predictions \
        against the reference's and its accuracy (no per-element tolerances: int8 is not meant \
        to match fp32 to 1e-4).
        """)
    var precision = "fp32"

    @Option(
      help: """
        The primary convolution (fp32): auto (Winograd where the kernel allows, else direct), \
        direct (im2col + GEMM) or winograd.
        """)
    var convolution = "auto"

    @Option(help: "With --precision int8: least share of predictions equal to the reference's (0...1).")
    var minAgreement = 0.995

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
      guard rtol >= 0, lengthRtol >= 0, (atol ?? 0) >= 0, rtol.isFinite, (atol ?? 0).isFinite else {
        throw ValidationError("tolerances must be finite and >= 0")
      }
      if let primaryOrder, PrimaryCapsuleOrder(rawValue: primaryOrder) == nil {
        throw ValidationError("--primary-order takes dims-major or types-major")
      }
      try validateThreads(threads)
      guard Precision(rawValue: precision) != nil else {
        throw ValidationError("--precision takes fp32 or int8")
      }
      try validateConvolution(convolution, precision: precision)
      guard (0...1).contains(minAgreement) else { throw ValidationError("--min-agreement takes 0...1") }
    }

    func run() throws {
      if precision == Precision.int8.rawValue { return try runInt8() }
      var tolerances = ParityCheck.Tolerances()
      tolerances.standard.relative = rtol
      tolerances.standard.absolute = atol
      tolerances.perStage["lengths"] = ParityCheck.Tolerance(
        relative: lengthRtol, absolute: atol, absoluteScale: 1e-5)
      let report = try reportingInvalidInput {
        var options = ModelFile.ReadOptions()
        options.primaryOrder = primaryOrder.flatMap(PrimaryCapsuleOrder.init(rawValue:))
        options.stateDictKey = key
        let (loaded, _) = try ModelFile.read(at: model, options: options)
        let activations = try ReferenceActivations.read(at: reference)
        let network = CapsNetwork(loaded)
        return try ParityCheck.run(
          network: network, reference: activations, tolerances: tolerances, threads: threads,
          convolution: try resolvedConvolution(convolution, network: network, model: model))
      }
      if json {
        struct Output: Encodable {
          var passed: Bool
          var firstFailingStage: String?
          var report: ParityCheck.Report
        }
        try printJSON(
          Output(passed: report.passed, firstFailingStage: report.firstFailingStage, report: report))
      } else {
        printTable(report)
      }
      if !report.passed { throw Exit.mismatch }
    }

    private func printTable(_ report: ParityCheck.Report) {
      print(
        [
          pad("stage", 15), pad("shape", 22), lpad("max abs err", 12), lpad("max rel err", 12),
          lpad("atol", 9), lpad("rtol", 7), lpad("outside", 9),
          "  " + pad("worst index", 20), "result",
        ].joined(separator: " "))
      for stage in report.stages {
        print(
          [
            pad(stage.stage, 15), pad("[" + stage.shape.map(String.init).joined(separator: ", ") + "]", 22),
            lpad(String(format: "%.3e", stage.maxAbsoluteError), 12),
            lpad(String(format: "%.3e", stage.maxRelativeError), 12),
            lpad(String(format: "%.1e", stage.absoluteTolerance), 9),
            lpad(String(format: "%.0e", stage.tolerance.relative), 7),
            lpad(String(stage.failingElements), 9),
            "  " + pad("[" + stage.worstIndex.map(String.init).joined(separator: ", ") + "]", 20),
            stage.passed ? "pass" : "FAIL",
          ].joined(separator: " "))
      }
      print(
        "max rel err: max abs err / the stage's largest |reference|; outside: elements beyond atol + rtol*|reference|"
      )
      print("primary convolution: \(report.convolution.rawValue)")
      if report.conv2Order != .dimsMajor, report.stages.contains(where: { $0.stage == "conv2" }) {
        print(
          "conv2 compared in the checkpoint's \(report.conv2Order.rawValue) order (\(report.conv2Order.channelFormula))"
        )
      }
      for note in report.skipped { print("skipped: \(note)") }
      if !report.absent.isEmpty {
        print("not in the reference file (not compared): \(report.absent.joined(separator: ", "))")
      }
      let matching = report.predictions.count - report.mismatchedImages.count
      print(
        "predicted classes: \(matching)/\(report.predictions.count) identical"
          + (report.mismatchedImages.isEmpty ? "" : " (differ at images \(report.mismatchedImages))"))
      if !report.nonFiniteImages.isEmpty {
        print("non-finite capsule lengths at images \(report.nonFiniteImages.prefix(20))")
      }
      if report.passed {
        print("PASS")
      } else if let first = report.firstFailingStage {
        print("FAIL: first failing stage: \(first)")
      } else if !report.nonFiniteImages.isEmpty {
        print("FAIL: non-finite capsule lengths")
      } else {
        print("FAIL: predicted classes differ")
      }
    }
  }
}

extension CapsConv.Verify {
  /// What `verify --precision int8` reports.
  struct Int8Report: Encodable {
    var images: Int
    /// Images whose int8 prediction equals the reference's (fp32) prediction.
    var agreeing: Int
    var agreement: Double
    var minAgreement: Double
    /// Share of images classified as their true label (nil without labels in the reference).
    var int8Accuracy: Double?
    var referenceAccuracy: Double?
    /// Largest |int8 length - reference length| over every image and class.
    var maxLengthError: Double
    var disagreeingImages: [Int]
    var kernel: String
    var passed: Bool
  }

  /// Runs the int8 runtime on the reference's digits and compares predictions and lengths.
  func runInt8() throws {
    let (network, activations) = try reportingInvalidInput {
      var options = ModelFile.ReadOptions()
      options.primaryOrder = primaryOrder.flatMap(PrimaryCapsuleOrder.init(rawValue:))
      options.stateDictKey = key
      let (loaded, _) = try ModelFile.read(at: model, options: options)
      return (CapsNetwork(loaded), try ReferenceActivations.read(at: reference))
    }
    let c = network.configuration
    let imageSize = c.inputChannels * c.inputSize * c.inputSize
    let count = activations.count
    guard count > 0, activations.pixels.values.count == count * imageSize,
      activations.predictions.count == count
    else {
      printError(
        "\(reference): pixels have shape \(activations.pixels.shape), the model takes "
          + "\(c.inputChannels)x\(c.inputSize)x\(c.inputSize) images")
      throw Exit.invalidInput
    }
    let plan: InferencePlan
    do {
      plan = try InferencePlan.fitting(network: network, maxBatch: count, threads: threads, precision: .int8)
    } catch {
      printError("\(model): \(error.description)")
      throw Exit.invalidInput
    }
    let session = InferenceSession(network: network, plan: plan)
    var predictions: [Int] = []
    var maxLengthError = 0.0
    let referenceLengths = activations.stages["lengths"]?.values
    activations.pixels.values.withUnsafeBufferPointer { pixels in
      var start = 0
      while start < count {
        let batch = min(plan.maxBatch, count - start)
        session.run(batch: batch, pixels: UnsafeBufferPointer(rebasing: pixels[(start * imageSize)...]))
        for image in 0..<batch {
          predictions.append(session.prediction(at: image))
          guard let referenceLengths, referenceLengths.count == count * c.outputCapsules else { continue }
          for capsule in 0..<c.outputCapsules {
            let error = abs(
              Double(session.length(at: image, capsule: capsule))
                - Double(referenceLengths[(start + image) * c.outputCapsules + capsule]))
            maxLengthError = max(maxLengthError, error.isNaN ? .infinity : error)
          }
        }
        start += batch
      }
    }
    let disagreeing = (0..<count).filter { predictions[$0] != activations.predictions[$0] }
    let labels = activations.labels.count == count ? activations.labels : nil
    func accuracy(_ values: [Int]) -> Double? {
      labels.map { labels in Double((0..<count).filter { values[$0] == labels[$0] }.count) / Double(count) }
    }
    let agreement = Double(count - disagreeing.count) / Double(count)
    let report = Int8Report(
      images: count, agreeing: count - disagreeing.count, agreement: agreement, minAgreement: minAgreement,
      int8Accuracy: accuracy(predictions), referenceAccuracy: accuracy(activations.predictions),
      maxLengthError: maxLengthError, disagreeingImages: disagreeing, kernel: network.int8Kernel.rawValue,
      passed: agreement >= minAgreement)
    if json {
      try printJSON(report)
    } else {
      print("int8 (\(report.kernel) kernel) against \(reference), \(count) images")
      print(
        "predicted classes: \(report.agreeing)/\(count) equal to the reference's ("
          + String(format: "%.2f%%", 100 * agreement) + ", at least "
          + String(format: "%.2f%%", 100 * minAgreement) + " required)"
          + (disagreeing.isEmpty ? "" : "; differ at images \(disagreeing.prefix(20))"))
      if let int8 = report.int8Accuracy, let fp32 = report.referenceAccuracy {
        print(
          "accuracy: int8 " + String(format: "%.2f%%", 100 * int8) + ", reference "
            + String(format: "%.2f%%", 100 * fp32))
      }
      print("capsule lengths: max |int8 - reference| " + String(format: "%.3e", maxLengthError))
      print(report.passed ? "PASS" : "FAIL: agreement below --min-agreement")
    }
    if !report.passed { throw Exit.mismatch }
  }
}
