import ArgumentParser
import CapsFormat
import Foundation

extension CapsConv {
  /// `capsconv inspect`: configuration, tensors, parameter count, FLOPs and metadata of a model.
  struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show a model's configuration, tensors (shape, type, statistics), FLOPs and metadata.")

    @Argument(
      help: "A CapsKit model file, or a checkpoint (.pth, HDF5 state_dict, Keras HDF5) converted in memory.")
    var model: String

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @Option(help: "The entry of a torch.save checkpoint dict that holds the state_dict.")
    var key: String?

    func run() throws {
      var options = ModelFile.ReadOptions()
      options.allowNonFinite = true  // inspect reports them instead of refusing the file
      options.stateDictKey = key
      let report = try reportingInvalidInput {
        let (loaded, provenance) = try ModelFile.read(at: model, options: options)
        return InspectReport(file: model, model: loaded, provenance: provenance)
      }
      if json {
        try printJSON(report)
      } else {
        report.printTables()
      }
    }
  }
}

/// What `inspect` shows, as a JSON-encodable value.
struct InspectReport: Encodable {
  struct TensorSummary: Encodable {
    var name: String
    var shape: [Int]
    var dtype: String
    var min: Float?
    var max: Float?
    var mean: Double?
    var nanCount: Int
    var infiniteCount: Int
  }

  struct StageFLOPs: Encodable {
    var stage: String
    var flops: Int
  }

  var file: String
  var hasMetadata: Bool
  var layout: String
  var configuration: CapsNetConfiguration
  var primaryGrid: Int
  var inputCapsules: Int
  var tensors: [TensorSummary]
  var parameters: Int
  var flopsPerImage: [StageFLOPs]
  var routingIterations: Int
  var softmaxAxis: String
  var squashEpsilon: Double
  var inputMean: Double
  var inputStd: Double
  var classLabels: [String]
  var sourceName: String?
  var sourceSHA256: String?

  init(file: String, model: CapsModel, provenance: ModelFile.Provenance) {
    self.file = file
    hasMetadata = provenance.hasMetadata
    layout = provenance.layout.rawValue
    configuration = model.configuration
    primaryGrid = model.configuration.primaryGrid
    inputCapsules = model.configuration.inputCapsules
    tensors = model.orderedKeys.map { key in
      let tensor = model.tensor(key)
      var minimum = Float.infinity
      var maximum = -Float.infinity
      var sum = 0.0
      var finite = 0
      for value in tensor.values where value.isFinite {
        minimum = Swift.min(minimum, value)
        maximum = Swift.max(maximum, value)
        sum += Double(value)
        finite += 1
      }
      let (nan, infinite) = tensor.nonFiniteCounts
      return TensorSummary(
        name: key, shape: tensor.shape, dtype: provenance.storedTypes[key]?.description ?? "float32",
        min: finite > 0 ? minimum : nil, max: finite > 0 ? maximum : nil,
        mean: finite > 0 ? sum / Double(finite) : nil, nanCount: nan, infiniteCount: infinite)
    }
    parameters = model.configuration.parameterCount
    flopsPerImage = model.configuration.flopsPerImage(routingIterations: model.metadata.routingIterations).map
    {
      StageFLOPs(stage: $0.stage, flops: $0.flops)
    }
    routingIterations = model.metadata.routingIterations
    softmaxAxis = model.metadata.softmaxAxis.rawValue
    squashEpsilon = model.metadata.squashEpsilon
    inputMean = model.metadata.normalization.mean
    inputStd = model.metadata.normalization.std
    classLabels = model.metadata.classLabels
    sourceName = model.metadata.sourceName
    sourceSHA256 = model.metadata.sourceSHA256
  }

  func printTables() {
    let c = configuration
    let kind =
      hasMetadata
      ? "CapsKit model file"
      : layout == CheckpointLayout.reference.rawValue
        ? "plain state_dict, default metadata" : "\(layout) layout converted to the reference, its metadata"
    print("\(file)  (\(kind))")
    print("")
    print("Configuration")
    let rows: [(String, String)] = [
      ("input", "\(c.inputSize)x\(c.inputSize), \(c.inputChannels) channel(s)"),
      (
        "conv1",
        "\(c.conv1Channels) channels, \(c.conv1Kernel)x\(c.conv1Kernel), stride 1, ReLU -> \(c.conv1OutputSize)x\(c.conv1OutputSize)"
      ),
      (
        "primary conv",
        "\(c.primaryChannels) channels, \(c.primaryKernel)x\(c.primaryKernel), stride \(c.primaryStride) -> \(primaryGrid)x\(primaryGrid)"
      ),
      ("primary capsules", "\(c.primaryTypes) types x \(c.primaryDimension)D = \(inputCapsules) capsules"),
      ("digit capsules", "\(c.outputCapsules) x \(c.outputDimension)D"),
      (
        "decoder",
        c.hasDecoder
          ? "\(c.outputCapsules * c.outputDimension) -> "
            + c.decoderWidths.map(String.init).joined(separator: " -> ") : "none"
      ),
    ]
    for (name, value) in rows { print("  " + pad(name, 18) + value) }
    print("")
    print("Tensors")
    let header = [
      pad("name", 24), pad("shape", 20), pad("dtype", 8), lpad("min", 12), lpad("max", 12), lpad("mean", 13),
      lpad("NaN", 5), lpad("Inf", 5),
    ]
    print("  " + header.joined(separator: " "))
    for tensor in tensors {
      let cells = [
        pad(tensor.name, 24), pad("[" + tensor.shape.map(String.init).joined(separator: ", ") + "]", 20),
        pad(tensor.dtype, 8), lpad(format(tensor.min), 12), lpad(format(tensor.max), 12),
        lpad(tensor.mean.map { String(format: "%.4e", $0) } ?? "-", 13), lpad(String(tensor.nanCount), 5),
        lpad(String(tensor.infiniteCount), 5),
      ]
      print("  " + cells.joined(separator: " "))
    }
    print("  total parameters: \(grouped(parameters))")
    print("")
    print("FLOPs per image")
    for stage in flopsPerImage {
      print("  " + pad(stage.stage, 24) + lpad(String(format: "%.1f MFLOP", Double(stage.flops) / 1e6), 14))
    }
    let total = flopsPerImage.reduce(0) { $0 + $1.flops }
    print("  " + pad("total", 24) + lpad(String(format: "%.1f MFLOP", Double(total) / 1e6), 14))
    print("")
    print("Metadata")
    let metadataRows: [(String, String)] = [
      ("routing iterations", String(routingIterations)), ("softmax axis", softmaxAxis),
      ("squash epsilon", String(squashEpsilon)), ("normalisation", "(x/255 - \(inputMean)) / \(inputStd)"),
      ("class labels", classLabels.joined(separator: ",")), ("source", sourceName ?? "-"),
      ("source sha256", sourceSHA256 ?? "-"),
    ]
    for (name, value) in metadataRows { print("  " + pad(name, 20) + value) }
  }

  private func format(_ value: Float?) -> String {
    value.map { String(format: "%.4e", Double($0)) } ?? "-"
  }
}

func pad(_ text: String, _ width: Int) -> String {
  text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func lpad(_ text: String, _ width: Int) -> String {
  text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
