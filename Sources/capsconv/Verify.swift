import ArgumentParser
import CapsFormat
import CapsRuntime
import Foundation

extension CapsConv {
  /// `capsconv verify`: the runtime against reference activations, stage by stage.
  struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Compare the runtime with reference activations stage by stage.",
      discussion:
        "Exit 0 when every stage is within tolerance and every predicted class matches, 2 otherwise, 1 on invalid input."
    )

    @Argument(help: "A CapsKit model file or a PyTorch-exported state_dict HDF5.")
    var model: String

    @Option(help: "Reference activations (HDF5 written by Tools/make_activations.py).")
    var reference: String

    @Option(help: "Largest absolute error allowed on every stage but lengths.")
    var tolerance: Double = 1e-4

    @Option(help: "Largest absolute error allowed on the capsule lengths.")
    var lengthTolerance: Double = 1e-5

    @Option(help: "Threads, 1...64 (default: one per processor, at most 16).")
    var threads: Int?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
      guard tolerance >= 0, lengthTolerance >= 0 else { throw ValidationError("tolerances must be >= 0") }
      try validateThreads(threads)
    }

    func run() throws {
      var tolerances = ParityCheck.Tolerances()
      tolerances.absolute = tolerance
      tolerances.perStage["lengths"] = lengthTolerance
      let report = try reportingInvalidInput {
        let (loaded, _) = try ModelFile.read(at: model)
        let activations = try ReferenceActivations.read(at: reference)
        return try ParityCheck.run(
          network: CapsNetwork(loaded), reference: activations, tolerances: tolerances, threads: threads)
      }
      if json {
        struct Output: Encodable {
          var passed: Bool
          var report: ParityCheck.Report
        }
        try printJSON(Output(passed: report.passed, report: report))
      } else {
        printTable(report)
      }
      if !report.passed { throw Exit.mismatch }
    }

    private func printTable(_ report: ParityCheck.Report) {
      print(
        [
          pad("stage", 15), pad("shape", 22), lpad("max abs err", 12), lpad("max rel err", 12),
          lpad("tolerance", 10),
          "  " + pad("worst index", 20), "result",
        ].joined(separator: " "))
      for stage in report.stages {
        print(
          [
            pad(stage.stage, 15), pad("[" + stage.shape.map(String.init).joined(separator: ", ") + "]", 22),
            lpad(String(format: "%.3e", stage.maxAbsoluteError), 12),
            lpad(String(format: "%.3e", stage.maxRelativeError), 12),
            lpad(String(format: "%.0e", stage.tolerance), 10),
            "  " + pad("[" + stage.worstIndex.map(String.init).joined(separator: ", ") + "]", 20),
            stage.passed ? "pass" : "FAIL",
          ].joined(separator: " "))
      }
      for note in report.skipped { print("skipped: \(note)") }
      let matching = report.predictions.count - report.mismatchedImages.count
      print(
        "predicted classes: \(matching)/\(report.predictions.count) identical"
          + (report.mismatchedImages.isEmpty ? "" : " (differ at images \(report.mismatchedImages))"))
      if !report.nonFiniteImages.isEmpty {
        print("non-finite capsule lengths at images \(report.nonFiniteImages.prefix(20))")
      }
      print(report.passed ? "PASS" : "FAIL")
    }
  }
}
