/// Which axis the routing softmax normalises over.
public enum RoutingSoftmaxAxis: String, Sendable, Codable, CaseIterable {
  /// Over the input capsules (labml's reference: each output's couplings sum to 1).
  case inputCapsules = "input_capsules"
  /// Over the output capsules (the paper: each input's couplings sum to 1).
  case outputCapsules = "output_capsules"
}

/// Where a checkpoint's primary convolution puts capsule component d of type t among its T·D output
/// channels. Both conventions give identical shapes, so a checkpoint cannot tell them apart; import
/// converts either to the reference order by permuting conv2's output channels (weight and bias).
public enum PrimaryCapsuleOrder: String, Sendable, Codable, CaseIterable {
  /// labml's reference: channel d·T + t (`x.view(N, D, T·G·G).permute(0, 2, 1)`); what CapsKit stores.
  case dimsMajor = "dims-major"
  /// Channel t·D + d (`x.view(N, T, D, G, G)`), the other common reshape.
  case typesMajor = "types-major"

  /// The channel of a checkpoint in this order that holds reference channel `channel` (= d·T + t).
  public func sourceChannel(forReferenceChannel channel: Int, types: Int, dimension: Int) -> Int {
    switch self {
    case .dimsMajor: channel
    case .typesMajor: (channel % types) * dimension + channel / types
    }
  }

  /// The formula, for messages.
  public var channelFormula: String { self == .dimsMajor ? "channel d*T + t" : "channel t*D + d" }
}

/// Input preprocessing: `(pixel / 255 - mean) / std`, computed in Float.
public struct InputNormalization: Sendable, Equatable, Codable {
  /// Subtracted after dividing by 255.
  public var mean: Double
  /// Divides after subtracting the mean; positive.
  public var std: Double

  /// `(pixel / 255 - mean) / std`.
  public init(mean: Double, std: Double) {
    self.mean = mean
    self.std = std
  }

  /// MNIST's mean and standard deviation, the reference model's preprocessing.
  public static let mnist = InputNormalization(mean: 0.1307, std: 0.3081)
  /// Plain `pixel / 255`.
  public static let unit = InputNormalization(mean: 0, std: 1)
}

/// What a model needs besides its weights: none of this can be read from the tensors.
public struct ModelMetadata: Sendable, Equatable {
  /// Version of the CapsKit model-file schema this metadata follows.
  public static let formatVersion = 1

  /// Dynamic-routing iterations (3).
  public var routingIterations: Int
  /// Axis of the routing softmax (input capsules in the reference).
  public var softmaxAxis: RoutingSoftmaxAxis
  /// Epsilon inside the squash's square root (1e-8); 0 for implementations without one.
  public var squashEpsilon: Double
  /// Input normalisation (MNIST mean and std).
  public var normalization: InputNormalization
  /// One label per output capsule ("0" ... "9").
  public var classLabels: [String]
  /// File name the weights were imported from, if known.
  public var sourceName: String?
  /// SHA-256 (lowercase hex) of the file the weights were imported from, if known.
  public var sourceSHA256: String?
  /// The primary-capsule order of the checkpoint the weights were imported from, if known. The
  /// weights themselves are always in the reference order (dims-major); `verify` compares a
  /// recorded `conv2` stage in this order.
  public var sourcePrimaryOrder: PrimaryCapsuleOrder?

  /// Metadata with the reference defaults for everything not given.
  public init(
    routingIterations: Int = 3, softmaxAxis: RoutingSoftmaxAxis = .inputCapsules,
    squashEpsilon: Double = 1e-8, normalization: InputNormalization = .mnist, classLabels: [String],
    sourceName: String? = nil, sourceSHA256: String? = nil
  ) {
    self.routingIterations = routingIterations
    self.softmaxAxis = softmaxAxis
    self.squashEpsilon = squashEpsilon
    self.normalization = normalization
    self.classLabels = classLabels
    self.sourceName = sourceName
    self.sourceSHA256 = sourceSHA256
  }

  /// The reference model's metadata for a model with `classCount` outputs, labelled "0", "1", ...
  public static func reference(classCount: Int) -> ModelMetadata {
    ModelMetadata(classLabels: (0..<classCount).map(String.init))
  }

  /// Problems with the metadata for a model with `classCount` output capsules.
  public func validate(classCount: Int) -> [String] {
    var problems: [String] = []
    if !(1...100).contains(routingIterations) {
      problems.append("routing iterations must be 1...100, found \(routingIterations)")
    }
    if !(squashEpsilon >= 0 && squashEpsilon < 1) {
      problems.append("squash epsilon must be in [0, 1), found \(squashEpsilon)")
    }
    if !normalization.mean.isFinite || !(normalization.std > 0) || !normalization.std.isFinite {
      problems.append(
        "input normalisation needs a finite mean and a positive std, found \(normalization.mean), \(normalization.std)"
      )
    }
    if classLabels.count != classCount {
      problems.append("\(classLabels.count) class labels for \(classCount) output capsules")
    }
    return problems
  }
}
