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

    @Argument(help: "A CapsKit model file, or a checkpoint (.pth, HDF5 state_dict) imported in memory.")
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
    }

    func run() throws {
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
        return try ParityCheck.run(
          network: CapsNetwork(loaded), reference: activations, tolerances: tolerances, threads: threads)
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
