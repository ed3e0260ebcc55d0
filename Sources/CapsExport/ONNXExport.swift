import CapsFormat
import Foundation
import SwiftProtobuf

/// The whole inference graph of a model as ONNX (opset 17), built node by node on the generated
/// `onnx.proto` messages (Sources/CapsExport/ONNX/onnx.pb.swift).
///
/// Input `pixels` [N, C, H, W] float32, raw 0...255 as the runtime takes them, N dynamic. Outputs
/// `lengths` [N, J] and, when the model has a decoder, `reconstruction` [N, C*H*W] of the capsule
/// with the largest length (first on ties, as the runtime). The graph computes what the runtime
/// computes, in the same order of operations where it matters: `(x / 255 - mean) / std`; conv1 +
/// ReLU; conv2 (stride from the model); capsule i = t*G*G + h*G + w takes component d from channel
/// d*T + t (the weights are stored in that order whatever the checkpoint's); squash
/// `s2 / (1 + s2) * (s / sqrt(s2 + eps))`; u_hat[n, i, j, :] = u[n, i, :] · W[i, j]; routing
/// unrolled, logits from zero, softmax over the model's axis, no logit update after the last
/// iteration; lengths. Weights are initializers named by their reference keys, in their reference
/// shapes. Labels, normalisation and every metadata value go in `metadata_props`.
enum ONNXExport {
  static let opset: Int64 = 17
  /// ONNX IR version 8 (the one that introduced opset 17's release).
  static let irVersion: Int64 = 8

  static func serialize(_ model: Onnx_ModelProto) throws -> [UInt8] {
    // Protobuf messages stop at 2 GiB; ONNX's external-data files are not written.
    let bytes: [UInt8] = try model.serializedBytes()
    guard bytes.count < Int(Int32.max) else {
      throw ExportError(kind: .tooLarge, reason: "an ONNX file holds at most 2 GiB in one protobuf message")
    }
    return bytes
  }

  static func model(_ model: CapsModel) throws -> Onnx_ModelProto {
    let graph = GraphBuilder()
    let c = model.configuration
    let m = model.metadata
    let (types, dimension, grid) = (c.primaryTypes, c.primaryDimension, c.primaryGrid)
    let (outputs, outputDimension) = (c.outputCapsules, c.outputDimension)

    for key in model.orderedKeys { graph.initializer(key, model.tensor(key)) }

    // Normalisation, in the runtime's order and Float constants.
    let scaled = graph.node("Div", ["pixels", graph.scalar(255)])
    let centred = graph.node("Sub", [scaled, graph.scalar(Float(m.normalization.mean))])
    let x = graph.node("Div", [centred, graph.scalar(Float(m.normalization.std))], name: "input")

    let conv1 = graph.node(
      "Relu",
      [graph.node("Conv", [x, "conv1.weight", "conv1.bias"], attributes: [.ints("strides", [1, 1])])],
      name: "conv1")
    let conv2 = graph.node(
      "Conv", [conv1, "conv2.weight", "conv2.bias"],
      attributes: [.ints("strides", [Int64(c.primaryStride), Int64(c.primaryStride)])], name: "conv2")
    // [N, D*T, G, G] -> [N, D, T*G*G] -> [N, I, D]
    let grouped = graph.node(
      "Reshape", [conv2, graph.int64s([0, Int64(dimension), Int64(types * grid * grid)])])
    let primary = graph.squash(
      graph.node("Transpose", [grouped], attributes: [.ints("perm", [0, 2, 1])]), epsilon: m.squashEpsilon,
      name: "primary")

    // u_hat: [N, I, 1, 1, D] @ [I, J, D, M] -> [N, I, J, 1, M] -> [N, I, J, M]
    let u5 = graph.node("Unsqueeze", [primary, graph.int64s([2, 3])])
    let uHat = graph.node(
      "Squeeze", [graph.node("MatMul", [u5, "digit_capsules.weight"]), graph.int64s([3])], name: "u_hat")

    // Routing over logits b [N, I, J], zero at first.
    let logitsShape = graph.node(
      "Slice", [graph.node("Shape", [uHat]), graph.int64s([0]), graph.int64s([3]), graph.int64s([0])])
    var logits = graph.node(
      "ConstantOfShape", [logitsShape], attributes: [.tensor("value", Tensor(shape: [1], values: [0]))])
    let axis: Int64 = m.softmaxAxis == .inputCapsules ? 1 : 2
    var v = ""
    for iteration in 0..<m.routingIterations {
      let coupling = graph.node(
        "Softmax", [logits], attributes: [.int("axis", axis)], name: "coupling_\(iteration)")
      let weighted = graph.node("Mul", [graph.node("Unsqueeze", [coupling, graph.int64s([3])]), uHat])
      let s = graph.node("ReduceSum", [weighted, graph.int64s([1])], attributes: [.int("keepdims", 0)])
      v = graph.squash(s, epsilon: m.squashEpsilon, name: "digit_caps_\(iteration)")
      if iteration == m.routingIterations - 1 { break }
      let agreement = graph.node(
        "ReduceSum",
        [graph.node("Mul", [uHat, graph.node("Unsqueeze", [v, graph.int64s([1])])]), graph.int64s([3])],
        attributes: [.int("keepdims", 0)])
      logits = graph.node("Add", [logits, agreement])
    }
    let lengths = graph.node(
      "Sqrt",
      [
        graph.node(
          "ReduceSum", [graph.node("Mul", [v, v]), graph.int64s([2])], attributes: [.int("keepdims", 0)])
      ],
      name: "lengths")
    graph.output(lengths, shape: [.param("N"), .value(Int64(outputs))])

    if c.hasDecoder {
      // Mask: one-hot of the first longest capsule (ArgMax keeps the first maximum).
      let predicted = graph.node("ArgMax", [lengths], attributes: [.int("axis", 1), .int("keepdims", 1)])
      let classes = graph.int64s((0..<Int64(outputs)).map { $0 }, shape: [1, outputs])
      let mask = graph.node(
        "Cast", [graph.node("Equal", [classes, predicted])],
        attributes: [.int("to", Int64(Onnx_TensorProto.DataType.float.rawValue))])
      let masked = graph.node("Mul", [v, graph.node("Unsqueeze", [mask, graph.int64s([2])])])
      var hidden = graph.node("Reshape", [masked, graph.int64s([0, Int64(outputs * outputDimension)])])
      for layer in 0..<c.decoderWidths.count {
        let linear = graph.node(
          "Gemm", [hidden, "decoder.\(layer * 2).weight", "decoder.\(layer * 2).bias"],
          attributes: [.int("transB", 1)])
        let last = layer == c.decoderWidths.count - 1
        hidden = graph.node(last ? "Sigmoid" : "Relu", [linear], name: last ? "reconstruction" : nil)
      }
      graph.output(hidden, shape: [.param("N"), .value(Int64(c.decoderWidths.last ?? 0))])
    }

    var result = Onnx_ModelProto()
    result.irVersion = irVersion
    result.producerName = "CapsKit capsconv"
    result.producerVersion = "1"
    result.domain = "capskit"
    result.modelVersion = 1
    result.docString =
      "Capsule network (Sabour et al. 2017) exported by CapsKit: pixels 0-255 [N, C, H, W] -> capsule lengths [N, classes]"
      + (c.hasDecoder ? " and the masked decoder's reconstruction [N, C*H*W]." : ".")
    var operatorSet = Onnx_OperatorSetIdProto()
    operatorSet.domain = ""
    operatorSet.version = opset
    result.opsetImport = [operatorSet]
    graph.graph.name = "capsnet"
    var input = Onnx_ValueInfoProto()
    input.name = "pixels"
    input.type = GraphBuilder.tensorType(
      [.param("N"), .value(Int64(c.inputChannels)), .value(Int64(c.inputSize)), .value(Int64(c.inputSize))])
    input.docString = "raw pixel values 0...255, white digit on black"
    graph.graph.input = [input]
    result.graph = graph.graph
    result.metadataProps = metadataProperties(model).map { key, value in
      var entry = Onnx_StringStringEntryProto()
      entry.key = key
      entry.value = value
      return entry
    }
    return result
  }

  /// The model's metadata as `metadata_props`: the CapsKit model-file attribute names
  /// (docs/FORMAT.md), lists as JSON arrays.
  static func metadataProperties(_ model: CapsModel) -> [(String, String)] {
    let c = model.configuration
    let m = model.metadata
    func json(_ strings: [String]) -> String {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.withoutEscapingSlashes]
      return (try? encoder.encode(strings)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }
    var properties: [(String, String)] = [
      ("capskit_format_version", String(ModelMetadata.formatVersion)),
      ("class_labels", json(m.classLabels)),
      ("input_mean", "\(m.normalization.mean)"),
      ("input_std", "\(m.normalization.std)"),
      ("input_size", String(c.inputSize)),
      ("input_channels", String(c.inputChannels)),
      ("primary_stride", String(c.primaryStride)),
      ("routing_iterations", String(m.routingIterations)),
      ("routing_softmax_axis", m.softmaxAxis.rawValue),
      ("squash_epsilon", "\(m.squashEpsilon)"),
      ("normalization", "(pixel / 255 - input_mean) / input_std, inside the graph"),
    ]
    if c.hasDecoder {
      properties.append(
        ("decoder_widths", "[" + c.decoderWidths.map(String.init).joined(separator: ",") + "]"))
    }
    if let name = m.sourceName { properties.append(("source_name", name)) }
    if let digest = m.sourceSHA256 { properties.append(("source_sha256", digest)) }
    if let order = m.sourcePrimaryOrder { properties.append(("source_primary_order", order.rawValue)) }
    return properties
  }
}

/// Builds a graph: unique value names, constants as initializers. A class, so that node calls nest.
final class GraphBuilder {
  var graph = Onnx_GraphProto()
  private var counter = 0

  enum Dimension {
    case value(Int64)
    case param(String)
  }

  enum Attribute {
    case int(String, Int64)
    case ints(String, [Int64])
    case tensor(String, Tensor)
  }

  func fresh(_ base: String) -> String {
    counter += 1
    return "\(base)_\(counter)"
  }

  /// Adds a node; returns its (single) output's name, `name` when given.
  @discardableResult
  func node(_ op: String, _ inputs: [String], attributes: [Attribute] = [], name: String? = nil) -> String {
    let output = name ?? fresh(op.lowercased())
    var node = Onnx_NodeProto()
    node.opType = op
    node.name = fresh("node_" + op.lowercased())
    node.input = inputs
    node.output = [output]
    node.attribute = attributes.map { attribute in
      var proto = Onnx_AttributeProto()
      switch attribute {
      case .int(let name, let value):
        proto.name = name
        proto.type = .int
        proto.i = value
      case .ints(let name, let values):
        proto.name = name
        proto.type = .ints
        proto.ints = values
      case .tensor(let name, let tensor):
        proto.name = name
        proto.type = .tensor
        proto.t = Self.floatTensor(name: "", tensor)
      }
      return proto
    }
    graph.node.append(node)
    return output
  }

  func initializer(_ name: String, _ tensor: Tensor) {
    graph.initializer.append(Self.floatTensor(name: name, tensor))
  }

  /// A float32 scalar constant.
  func scalar(_ value: Float) -> String {
    let name = fresh("const")
    graph.initializer.append(Self.floatTensor(name: name, Tensor(shape: [], values: [value])))
    return name
  }

  /// An int64 constant (shapes, axes), 1-D unless `shape` is given.
  func int64s(_ values: [Int64], shape: [Int]? = nil) -> String {
    let name = fresh("const")
    var proto = Onnx_TensorProto()
    proto.name = name
    proto.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
    proto.dims = (shape ?? [values.count]).map(Int64.init)
    proto.int64Data = values
    graph.initializer.append(proto)
    return name
  }

  /// squash(s) over the last axis: `s2 / (1 + s2) * (s / sqrt(s2 + epsilon))`, as the runtime.
  func squash(_ s: String, epsilon: Double, name: String) -> String {
    let lastAxis = int64s([-1])
    let s2 = node("ReduceSum", [node("Mul", [s, s]), lastAxis], attributes: [.int("keepdims", 1)])
    let gain = node("Div", [s2, node("Add", [scalar(1), s2])])
    let root = node("Sqrt", [node("Add", [s2, scalar(Float(epsilon))])])
    return node("Mul", [gain, node("Div", [s, root])], name: name)
  }

  func output(_ name: String, shape: [Dimension]) {
    var info = Onnx_ValueInfoProto()
    info.name = name
    info.type = Self.tensorType(shape)
    graph.output.append(info)
  }

  static func tensorType(_ shape: [Dimension]) -> Onnx_TypeProto {
    var tensorShape = Onnx_TensorShapeProto()
    tensorShape.dim = shape.map { dimension in
      var proto = Onnx_TensorShapeProto.Dimension()
      switch dimension {
      case .value(let value): proto.dimValue = value
      case .param(let name): proto.dimParam = name
      }
      return proto
    }
    var tensor = Onnx_TypeProto.Tensor()
    tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    tensor.shape = tensorShape
    var type = Onnx_TypeProto()
    type.tensorType = tensor
    return type
  }

  /// A float32 tensor, its values as little-endian raw data (bit-exact, compact).
  static func floatTensor(name: String, _ tensor: Tensor) -> Onnx_TensorProto {
    var proto = Onnx_TensorProto()
    proto.name = name
    proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    proto.dims = tensor.shape.map(Int64.init)
    proto.rawData = tensor.values.withUnsafeBytes { Data($0) }
    return proto
  }
}
