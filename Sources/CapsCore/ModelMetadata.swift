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

  /// Why the runtime cannot apply this normalisation, or nil. The runtime computes in Float: the
  /// mean and std must be finite, the std positive and normal, and the normalised pixels 0 and 255
  /// finite, all in Float (1e-45 or 1e-300 as a std, 1e300 as a mean would make every input infinite).
  public var problem: String? {
    guard mean.isFinite, std > 0, std.isFinite else {
      return "input normalisation needs a finite mean and a positive std, found \(mean), \(std)"
    }
    let floatMean = Float(mean)
    let floatStd = Float(std)
    guard floatStd.isNormal, ((0 - floatMean) / floatStd).isFinite, ((1 - floatMean) / floatStd).isFinite
    else {
      return
        "input normalisation (x/255 - \(mean)) / \(std) is not finite in Float, the runtime's precision "
        + "(the std must be at least \(Float.leastNormalMagnitude) and the normalised pixels finite)"
    }
    return nil
  }
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
    if let problem = normalization.problem { problems.append(problem) }
    if classLabels.count != classCount {
      problems.append("\(classLabels.count) class labels for \(classCount) output capsules")
    }
    // Labels name CSV columns and JSON keys: each must be non-empty and unique.
    var firstIndex: [String: Int] = [:]
    var labelProblems: [String] = []
    for (index, label) in classLabels.enumerated() {
      if label.isEmpty {
        labelProblems.append("class label \(index) is empty")
      } else if let first = firstIndex[label] {
        labelProblems.append("class label '\(label)' is given twice (classes \(first) and \(index))")
      } else {
        firstIndex[label] = index
      }
    }
    if labelProblems.count > 3 {
      labelProblems = labelProblems.prefix(3) + ["\(labelProblems.count - 3) more label problems"]
    }
    problems += labelProblems
    return problems
  }
}
