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
    var problems = configuration.validate() + metadata.validate(classCount: configuration.outputCapsules)
    let expected = configuration.expectedShapes
    let expectedKeys = Set(expected.map(\.key))
    for (key, shape) in expected {
      guard let tensor = weights[key] else {
        problems.append("missing tensor '\(key)'")
        continue
      }
      if tensor.shape != shape {
        problems.append(
          "'\(key)' has shape \(describe(shape: tensor.shape)), expected \(describe(shape: shape))")
      } else if !allowNonFinite {
        let (nan, infinite) = tensor.nonFiniteCounts
        if nan + infinite > 0 {
          problems.append("'\(key)' has \(nan) NaN and \(infinite) infinite values")
        }
      }
    }
    for key in weights.keys.sorted() where !expectedKeys.contains(key) {
      problems.append("unexpected tensor '\(key)'")
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

/// Everything wrong with a checkpoint, reported at once on one line.
public struct ModelValidationError: Error, CustomStringConvertible, Sendable {
  /// The file (or other source) that was checked.
  public let origin: String
  /// Each problem, naming the tensor, what was expected and what was found.
  public let problems: [String]

  /// An error listing `problems` found in `origin`.
  public init(origin: String, problems: [String]) {
    self.origin = origin
    self.problems = problems
  }

  /// Problems listed by `description`; the others are counted.
  public static let listedProblems = 8

  /// One line: the origin, then the first ``listedProblems`` problems separated by "; " and the
  /// number of the others ("; and 3,992 more problems"), so that thousands of missing layers or
  /// extra tensors make a short line (the whole list stays in `problems`).
  public var description: String {
    var text = "\(origin): " + problems.prefix(Self.listedProblems).joined(separator: "; ")
    let more = problems.count - Self.listedProblems
    if more > 0 { text += "; and \(more) more \(more == 1 ? "problem" : "problems")" }
    return text
  }
}
