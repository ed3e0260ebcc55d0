import CapsFormat
import CapsTestSupport
import Foundation
import SwiftProtobuf
import Testing

@testable import CapsExport

/// import -> export to each format and layout -> import -> export h5: the weights bit-identical, the
/// configuration identical, the metadata what the written format carries (all of it in ONNX, the
/// layout's own values in the others), on both Fixtures models and every imported layout.
@Suite struct ExportRoundTripTests {
  struct Source: CustomStringConvertible, Sendable {
    var fixture: String
    var options: ModelFile.ReadOptions = ModelFile.ReadOptions()
    var description: String { fixture }
  }

  static let sources: [Source] = {
    var typesMajor = ModelFile.ReadOptions()
    typesMajor.primaryOrder = .typesMajor
    return [
      Source(fixture: "models/standard.h5"), Source(fixture: "models/small.h5"),
      Source(fixture: "pth/small.pth"), Source(fixture: "layouts/gram-ai.pth"),
      Source(fixture: "layouts/keras_weights.h5"), Source(fixture: "layouts/keras_model.h5"),
      Source(fixture: "parity/types_major.pth", options: typesMajor),
    ]
  }()

  static let targets: [(ExportFormat, CheckpointLayout)] = [
    (.h5, .reference), (.h5, .gramAI), (.pth, .reference), (.pth, .gramAI), (.keras, .keras),
    (.onnx, .reference),
  ]

  /// Whether two models hold the same keys and the same bits (memcmp; a failure prints no tensors).
  static func sameBits(_ a: CapsModel, _ b: CapsModel) -> Bool {
    a.orderedKeys == b.orderedKeys
      && a.orderedKeys.allSatisfy { key in
        a.tensor(key).shape == b.tensor(key).shape
          && a.tensor(key).values.withUnsafeBytes { x in
            b.tensor(key).values.withUnsafeBytes { Data(x) == Data($0) }
          }
      }
  }

  @Test(arguments: sources)
  func everyFormatGivesBackTheSameModel(source: Source) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let (model, _) = try ModelFile.read(at: Fixtures.path(source.fixture), options: source.options)
    for (format, layout) in Self.targets {
      let name = "out-\(format.rawValue)-\(layout.rawValue).\(format == .keras ? "h5" : format.rawValue)"
      let path = folder.appendingPathComponent(name).path
      let target = try ExportTarget(path: path, format: format, layout: layout)
      try ModelExporter.export(model, to: path, target: target, overwrite: false, allowDifferences: true)
      let back: CapsModel
      if format == .onnx {
        back = try ONNXReadBack.model(from: try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(back.metadata == model.metadata, "\(source) -> \(name): ONNX metadata_props")
      } else {
        let (read, provenance) = try ModelFile.read(at: path)
        back = read
        #expect(provenance.layout == layout, "\(source) -> \(name): detected as \(provenance.layout)")
        var expected = LayoutCompatibility.importedMetadata(
          layout: layout, classCount: model.configuration.outputCapsules)
        expected.sourcePrimaryOrder = layout == .reference ? .dimsMajor : nil
        #expect(back.metadata == expected, "\(source) -> \(name): metadata")
      }
      #expect(back.configuration == model.configuration, "\(source) -> \(name): configuration")
      #expect(Self.sameBits(back, model), "\(source) -> \(name): weights differ")
      // ... -> export h5 -> import: the plain state_dict of the model read back holds the same bits.
      let plainPath = path + ".plain.h5"  // libhdf5 refuses two open in-memory files of one name
      let plain = try ModelExporter.encode(
        back, target: ExportTarget(path: plainPath, format: .h5, layout: nil), path: plainPath)
      let (again, _) = try ModelFile.read(image: plain.data, name: "\(name).h5")
      #expect(Self.sameBits(again, model), "\(source) -> \(name) -> h5: weights differ")
      #expect(again.configuration == model.configuration, "\(source) -> \(name) -> h5: configuration")
    }
  }

  /// Each gram-ai / Keras tensor sits where the import conversion expects it: the inverse mapping
  /// checked element by element on a model whose every weight is its own index (so a transposed
  /// or reordered axis cannot go unnoticed even where the round trip would cancel it out).
  @Test func kerasTensorsFollowCapsNetKerasOrder() throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("layouts/keras_weights.h5"))
    let c = model.configuration
    let layers = Dictionary(uniqueKeysWithValues: LayoutTensors.keras(model).map { ($0.name, $0.weights) })
    let primary = try #require(layers["primarycap_conv2d"]?.first { $0.name == "primarycap_conv2d/kernel:0" })
    let conv2 = model.tensor("conv2.weight")
    let (t, d, c1) = (c.primaryTypes, c.primaryDimension, c.conv1Channels)
    #expect(primary.tensor.shape == [c.primaryKernel, c.primaryKernel, c1, t * d])
    // Keras kernel (kh, kw, in, t*D + d) is reference conv2[d*T + t, in, kh, kw].
    for (kh, kw, input, tt, dd) in [(0, 0, 0, 0, 1), (3, 5, 7, 2, 6), (8, 8, c1 - 1, t - 1, d - 1)] {
      let keras = primary.tensor.values[((kh * c.primaryKernel + kw) * c1 + input) * t * d + tt * d + dd]
      let reference = conv2.values[
        (((dd * t + tt) * c1 + input) * c.primaryKernel + kh) * c.primaryKernel + kw]
      #expect(keras.bitPattern == reference.bitPattern)
    }
    let w = try #require(layers["digitcaps"]?.first).tensor
    let g = c.primaryGrid
    let reference = model.tensor("digit_capsules.weight")
    let (inputs, outputs, m) = (c.inputCapsules, c.outputCapsules, c.outputDimension)
    #expect(w.shape == [outputs, inputs, m, d])
    // W_keras[j, (h*G + w)*T + t, m, n] = W_ref[t*G*G + h*G + w, j, n, m]
    for (j, h, ww, tt, mm, n) in [
      (0, 0, 1, 0, 0, 0), (3, 2, 4, 1, 5, 7), (outputs - 1, g - 1, g - 1, t - 1, m - 1, d - 1),
    ] {
      let ik = (h * g + ww) * t + tt
      let ir = tt * g * g + h * g + ww
      #expect(
        w.values[((j * inputs + ik) * m + mm) * d + n].bitPattern
          == reference.values[((ir * outputs + j) * d + n) * m + mm].bitPattern)
    }
  }
}

/// Reads an exported ONNX file back into a model: the initializers named by the reference keys and
/// the metadata in `metadata_props` (test-only: CapsKit does not import ONNX).
enum ONNXReadBack {
  static func model(from data: Data) throws -> CapsModel {
    let proto = try Onnx_ModelProto(serializedBytes: data)
    #expect(proto.opsetImport.first?.version == 17)
    let properties = Dictionary(uniqueKeysWithValues: proto.metadataProps.map { ($0.key, $0.value) })
    var weights: [String: Tensor] = [:]
    for initializer in proto.graph.initializer where !initializer.name.hasPrefix("const_") {
      let values = initializer.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
      weights[initializer.name] = Tensor(shape: initializer.dims.map { Int($0) }, values: values)
    }
    let conv1 = try #require(weights["conv1.weight"]).shape
    let conv2 = try #require(weights["conv2.weight"]).shape
    let w = try #require(weights["digit_capsules.weight"]).shape
    var decoder: [Int] = []
    while let layer = weights["decoder.\(decoder.count * 2).weight"] { decoder.append(layer.shape[0]) }
    let configuration = CapsNetConfiguration(
      inputSize: Int(properties["input_size"] ?? "") ?? 0, inputChannels: conv1[1], conv1Channels: conv1[0],
      conv1Kernel: conv1[2], primaryKernel: conv2[2],
      primaryStride: Int(properties["primary_stride"] ?? "") ?? 0,
      primaryTypes: conv2[0] / w[2], primaryDimension: w[2], outputCapsules: w[1], outputDimension: w[3],
      decoderWidths: decoder)
    let labels = try JSONDecoder().decode([String].self, from: Data((properties["class_labels"] ?? "").utf8))
    var metadata = ModelMetadata(
      routingIterations: Int(properties["routing_iterations"] ?? "") ?? 0,
      softmaxAxis: RoutingSoftmaxAxis(rawValue: properties["routing_softmax_axis"] ?? "") ?? .inputCapsules,
      squashEpsilon: Double(properties["squash_epsilon"] ?? "") ?? -1,
      normalization: InputNormalization(
        mean: Double(properties["input_mean"] ?? "") ?? -1, std: Double(properties["input_std"] ?? "") ?? -1),
      classLabels: labels, sourceName: properties["source_name"], sourceSHA256: properties["source_sha256"])
    metadata.sourcePrimaryOrder = properties["source_primary_order"].flatMap(
      PrimaryCapsuleOrder.init(rawValue:))
    return try CapsModel(configuration: configuration, metadata: metadata, weights: weights, origin: "onnx")
  }
}
