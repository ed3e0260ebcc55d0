import ArgumentParser
import CapsFiles
import CapsFormat
import CapsHDF5Writer
import CapsToolSupport
import Foundation

extension CapsConv {
  /// `capsconv import`: a checkpoint (.pth, HDF5 state_dict, Keras weights) to a CapsKit model file.
  struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Import a checkpoint (.pth, HDF5 state_dict or Keras weights) into a CapsKit model file.",
      discussion:
        "Reads torch.save files (.pth/.pt) without Python and converts the gram-ai and Keras layouts to the reference one (detected from keys and shapes, or --layout). The output keeps the reference keys and shapes (still a PyTorch-loadable state_dict) and adds metadata attributes (docs/FORMAT.md)."
    )

    @Argument(
      help:
        "The checkpoint: a torch.save .pth/.pt file, HDF5 with one dataset per state_dict key, or Keras HDF5 weights."
    )
    var checkpoint: String

    @Option(help: "The checkpoint's layout: reference, gram-ai or keras (default: detected).")
    var layout: String?

    @Option(
      help: ArgumentHelp(
        "The primary-capsule order of a reference-layout checkpoint: dims-major (labml, default) or types-major.",
        discussion:
          "dims-major: conv2 channel d*T + t (x.view(N, D, T*G*G).permute(0, 2, 1)); types-major: channel t*D + d (x.view(N, T, D, G, G)). The shapes are the same, so the order cannot be read from the checkpoint; types-major is converted by permuting conv2's output channels."
      ))
    var primaryOrder: String?

    @Option(help: "The entry of a torch.save checkpoint dict that holds the state_dict (a/b when nested).")
    var key: String?

    @Option(name: .shortAndLong, help: "Output file (default: <stem>.caps.h5 beside the input).")
    var output: String?

    @Option(help: "Dynamic-routing iterations.")
    var iterations: Int?

    @Option(help: "Input normalisation MEAN,STD applied as (x/255 - MEAN) / STD (default 0.1307,0.3081).")
    var normalize: String?

    @Option(help: "Class labels, comma-separated, one per output capsule (default 0,1,...).")
    var labels: String?

    @Option(help: "Routing softmax axis: input_capsules (reference) or output_capsules (paper).")
    var softmaxAxis: String?

    @Option(help: "Epsilon inside the squash's square root (default 1e-8).")
    var squashEpsilon: Double?

    @Flag(help: "Replace an existing output file.")
    var force = false

    func validate() throws {
      if let normalize {
        guard let normalization = Self.parseNormalization(normalize) else {
          throw ValidationError("--normalize takes MEAN,STD with a positive STD, e.g. 0.1307,0.3081")
        }
        if let problem = normalization.problem { throw ValidationError("--normalize: \(problem)") }
      }
      if let iterations, !(1...100).contains(iterations) {
        throw ValidationError("--iterations takes 1...100")
      }
      if let layout, CheckpointLayout(rawValue: layout) == nil {
        throw ValidationError("--layout takes reference, gram-ai or keras")
      }
      if let softmaxAxis, RoutingSoftmaxAxis(rawValue: softmaxAxis) == nil {
        throw ValidationError("--softmax-axis takes input_capsules or output_capsules")
      }
      if let primaryOrder, PrimaryCapsuleOrder(rawValue: primaryOrder) == nil {
        throw ValidationError("--primary-order takes dims-major or types-major")
      }
    }

    /// What import says about the primary-capsule order, every time it reads a reference checkpoint.
    static func primaryOrderNote(_ provenance: ModelFile.Provenance) -> [String] {
      guard let order = provenance.primaryOrder else { return [] }
      let how =
        provenance.primaryOrderWasGiven
        ? "--primary-order"
          + (order == .dimsMajor ? "" : "; conv2 channels permuted to the reference d*T + t")
        : "assumed: the labml reference"
      return [
        "\(order.rawValue) (\(order.channelFormula); \(how))",
        "cannot be read from a checkpoint (both orders have the same shapes); check it with",
        "Tools/user/record_activations.py on your own module, then capsconv verify; if your model reshapes",
        "conv2's output as x.view(N, T, D, G, G), import with --primary-order types-major",
      ]
    }

    static func parseNormalization(_ text: String) -> InputNormalization? {
      let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
      guard parts.count == 2, let mean = parts[0], let std = parts[1], mean.isFinite, std > 0, std.isFinite
      else {
        return nil
      }
      return InputNormalization(mean: mean, std: std)
    }

    /// `model.h5` (or `.pth`, `.pt`) -> `model.caps.h5` in the same folder.
    static func defaultOutput(for input: String) -> String {
      let url = URL(fileURLWithPath: input)
      var stem = url.lastPathComponent
      for suffix in [".caps.h5", ".h5", ".hdf5", ".hdf", ".pth", ".pt"]
      where stem.lowercased().hasSuffix(suffix) {
        stem = String(stem.dropLast(suffix.count))
        break
      }
      return url.deletingLastPathComponent().appendingPathComponent(stem + ".caps.h5").path
    }

    func run() throws {
      InterruptCleanup.install()
      let outputPath = output ?? Self.defaultOutput(for: checkpoint)
      try reportingInvalidInput {
        guard canonicalPath(outputPath) != canonicalPath(checkpoint) else {
          throw FormatError(
            .sameAsInput, path: outputPath, detail: "is the input file; choose another output")
        }
        var options = ModelFile.ReadOptions()
        options.layout = layout.flatMap(CheckpointLayout.init(rawValue:))
        options.primaryOrder = primaryOrder.flatMap(PrimaryCapsuleOrder.init(rawValue:))
        options.stateDictKey = key
        var (model, provenance) = try ModelFile.read(at: checkpoint, options: options)
        if let iterations { model.metadata.routingIterations = iterations }
        if let normalize, let normalization = Self.parseNormalization(normalize) {
          model.metadata.normalization = normalization
        }
        if let softmaxAxis, let axis = RoutingSoftmaxAxis(rawValue: softmaxAxis) {
          model.metadata.softmaxAxis = axis
        }
        if let squashEpsilon { model.metadata.squashEpsilon = squashEpsilon }
        if let labels {
          model.metadata.classLabels = labels.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
          }
        }
        let problems = model.metadata.validate(classCount: model.configuration.outputCapsules)
        guard problems.isEmpty else {
          throw FormatError(
            ModelValidationError(origin: checkpoint, messages: problems, kind: .invalidMetadata))
        }
        let digestNote = try ModelFile.recordSource(of: &model, path: checkpoint)
        try ModelFile.write(model, to: outputPath, overwrite: force)
        let kind =
          provenance.hasMetadata
          ? "CapsKit model file"
          : provenance.layout == .reference ? "plain state_dict" : "converted to the reference layout"
        print("read:          \(FileName.display(checkpoint)) (\(kind))")
        let how = provenance.layoutWasDetected ? "detected" : "--layout"
        print("layout:        \(provenance.layout.rawValue) (\(how); \(provenance.layout.implementation))")
        for note in provenance.renamedKeys { print("keys:          \(note)") }
        for (index, line) in Self.primaryOrderNote(provenance).enumerated() {
          print((index == 0 ? "primary order: " : "               ") + line)
        }
        if let digestNote { print("source:        \(digestNote)") }
        print("configuration: \(model.configuration.summary)")
        print("inference:     \(model.metadata.summary)")
        print("labels:        \(model.metadata.classLabels.joined(separator: ","))")
        print("parameters:    \(grouped(model.configuration.parameterCount))")
        print("wrote:         \(FileName.display(outputPath))")
      }
    }
  }
}
