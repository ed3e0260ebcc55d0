/// A validated capsule network: configuration, metadata and weights in the reference layout.
///
/// Weights are keyed by the reference checkpoint names (`conv1.weight`, ..., `decoder.4.bias`) with
/// the reference shapes; a `CapsModel` exists only when every tensor agrees with `configuration`.
public struct CapsModel: Sendable {
  /// The architecture, inferred from the tensors' shapes.
  public let configuration: CapsNetConfiguration
  /// Inference settings that the weights cannot tell (routing, normalisation, labels).
  public var metadata: ModelMetadata
  /// Tensors by reference key.
  public let weights: [String: Tensor]

  /// Validates `weights` against `configuration` and `metadata`; throws every problem at once.
  public init(
    configuration: CapsNetConfiguration, metadata: ModelMetadata, weights: [String: Tensor],
    allowNonFinite: Bool = false, origin: String = "model"
  ) throws(ModelValidationError) {
    var problems =
      configuration.validate().map { ModelValidationError.Problem(.invalidConfiguration, $0) }
      + metadata.validate(classCount: configuration.outputCapsules).map { .init(.invalidMetadata, $0) }
    let expected = configuration.expectedShapes
    let expectedKeys = Set(expected.map(\.key))
    for (key, shape) in expected {
      guard let tensor = weights[key] else {
        problems.append(.missingTensor(key))
        continue
      }
      if tensor.shape != shape {
        problems.append(
          .init(
            .wrongShape,
            "'\(key)' has shape \(describe(shape: tensor.shape)), expected \(describe(shape: shape))",
            tensor: key))
      } else if !allowNonFinite {
        let (nan, infinite) = tensor.nonFiniteCounts
        if nan + infinite > 0 {
          problems.append(
            .init(.nonFinite, "'\(key)' has \(nan) NaN and \(infinite) infinite values", tensor: key))
        }
      }
    }
    for key in weights.keys.sorted() where !expectedKeys.contains(key) {
      problems.append(.unexpectedTensor(key))
    }
    guard problems.isEmpty else { throw ModelValidationError(origin: origin, problems: problems) }
    self.configuration = configuration
    self.metadata = metadata
    self.weights = weights
  }

  /// The tensor for a reference key; every expected key is present once the model exists.
  public func tensor(_ key: String) -> Tensor {
    weights[key] ?? Tensor(shape: [0], values: [])
  }

  /// Keys in reference module order.
  public var orderedKeys: [String] { configuration.expectedShapes.map(\.key) }
}
