import CapsFormat

/// Compares the runtime with reference activations stage by stage; the code path behind
/// `capsconv verify` and the parity tests.
public enum ParityCheck {
  /// Largest absolute error allowed per stage.
  public struct Tolerances: Sendable {
    /// For every stage not overridden (default 1e-4).
    public var absolute: Double = 1e-4
    /// Per stage name (`lengths` defaults to 1e-5).
    public var perStage: [String: Double] = ["lengths": 1e-5]

    /// 1e-4 on every stage, 1e-5 on the lengths.
    public init() {}

    /// The tolerance for stage `name`.
    public func tolerance(for name: String) -> Double { perStage[name] ?? absolute }
  }

  /// The comparison of one stage over all images.
  public struct StageResult: Sendable, Encodable {
    /// The dataset name of the stage (`conv1`, `u_hat`, ...).
    public var stage: String
    /// Shape of the reference tensor, images included.
    public var shape: [Int]
    /// Largest |runtime - reference| over the stage.
    public var maxAbsoluteError: Double
    /// Largest absolute error divided by the largest reference magnitude of the stage.
    public var maxRelativeError: Double
    /// Index (in the reference tensor) of the largest absolute error.
    public var worstIndex: [Int]
    /// The largest absolute error allowed.
    public var tolerance: Double
    /// Whether `maxAbsoluteError <= tolerance`.
    public var passed: Bool
  }

  /// The whole comparison.
  public struct Report: Sendable, Encodable {
    /// One result per compared stage, in forward order.
    public var stages: [StageResult]
    /// Stages of the reference that could not be compared, with the reason.
    public var skipped: [String]
    /// The runtime's predicted class per image.
    public var predictions: [Int]
    /// The reference's predicted class per image.
    public var referencePredictions: [Int]
    /// Images whose predicted class differs from the reference's.
    public var mismatchedImages: [Int]
    /// Images whose capsule lengths are not all finite (a NaN result is never a prediction).
    public var nonFiniteImages: [Int] = []
    /// Every stage within tolerance, every prediction identical and every length finite.
    public var passed: Bool {
      stages.allSatisfy(\.passed) && mismatchedImages.isEmpty && nonFiniteImages.isEmpty
    }
  }

  /// Images per run of the comparison by default: the plan (and the recorded intermediates, about
  /// 1.4 MB per image for the standard model) is sized for this many, whatever the reference holds.
  public static let defaultBatchSize = 32

  /// Runs `network` on the reference's pixels, `batchSize` images at a time, and compares every
  /// stage present in both.
  public static func run(
    network: CapsNetwork, reference: ReferenceActivations, tolerances: Tolerances = Tolerances(),
    threads: Int? = nil, batchSize: Int = defaultBatchSize
  ) throws(FormatError) -> Report {
    let c = network.configuration
    let imageSize = c.inputChannels * c.inputSize * c.inputSize
    guard reference.pixels.count == reference.count * imageSize else {
      throw .unexpectedContent(
        path: reference.path,
        reason:
          "pixels have shape \(reference.pixels.shape), the model takes \(c.inputChannels)x\(c.inputSize)x\(c.inputSize)"
      )
    }
    guard reference.routingIterations == network.metadata.routingIterations else {
      throw .unexpectedContent(
        path: reference.path,
        reason:
          "made with \(reference.routingIterations) routing iterations, the model uses \(network.metadata.routingIterations)"
      )
    }
    let plan: InferencePlan
    do {
      plan = try InferencePlan.fitting(
        network: network, maxBatch: min(reference.count, batchSize), threads: threads,
        recordsIntermediates: true)
    } catch {
      throw .unexpectedContent(path: reference.path, reason: error.description)
    }
    let session = InferenceSession(network: network, plan: plan)

    var comparisons: [String: StageComparison] = [:]
    var skipped: [String] = []
    var predictions: [Int] = []
    predictions.reserveCapacity(reference.count)
    var nonFinite: [Int] = []
    var first = 0
    while first < reference.count {
      let count = min(plan.maxBatch, reference.count - first)
      reference.pixels.values.withUnsafeBufferPointer {
        session.run(
          batch: count, pixels: UnsafeBufferPointer(rebasing: $0[(first * imageSize)...]),
          reconstruct: c.hasDecoder)
      }
      for name in ReferenceActivations.stageNames {
        guard let expected = reference.stages[name] else { continue }
        if first == 0 {
          guard let stage = InferenceStage(rawValue: name), session.canReport(stage) else {
            skipped.append("\(name): the model has no such stage")
            continue
          }
          let imageAxis = name == "coupling" ? 1 : 0
          var expectedShape = expected.shape
          expectedShape.remove(at: imageAxis)
          let actualShape = session.stageOutput(stage, image: 0).shape
          guard actualShape.reduce(1, *) == expectedShape.reduce(1, *) else {
            skipped.append(
              "\(name): reference shape \(expected.shape), runtime gives \(actualShape) per image")
            comparisons[name] = StageComparison(
              name: name, expected: expected, imageAxis: imageAxis, comparable: false)
            continue
          }
          comparisons[name] = StageComparison(name: name, expected: expected, imageAxis: imageAxis)
        }
        guard comparisons[name]?.comparable == true, let stage = InferenceStage(rawValue: name) else {
          continue
        }
        comparisons[name]?.add(
          first: first, actual: (0..<count).map { session.stageOutput(stage, image: $0) })
      }
      predictions += (0..<count).map { session.prediction(at: $0) }
      session.withLengths { lengths in
        let width = c.outputCapsules
        for image in 0..<count where !lengths[(image * width)..<((image + 1) * width)].allSatisfy(\.isFinite)
        {
          nonFinite.append(first + image)
        }
      }
      first += count
    }
    let results = ReferenceActivations.stageNames.compactMap { comparisons[$0]?.result(tolerances) }
    let mismatched = (0..<reference.count).filter { predictions[$0] != reference.predictions[$0] }
    return Report(
      stages: results, skipped: skipped, predictions: predictions,
      referencePredictions: reference.predictions,
      mismatchedImages: mismatched, nonFiniteImages: nonFinite)
  }

  /// The comparison of one stage, accumulated batch by batch.
  private struct StageComparison {
    let name: String
    let expected: Tensor
    let imageAxis: Int
    var comparable = true
    var worst = 0.0
    var worstFlat = 0
    var largest = 0.0

    init(name: String, expected: Tensor, imageAxis: Int, comparable: Bool = true) {
      self.name = name
      self.expected = expected
      self.imageAxis = imageAxis
      self.comparable = comparable
    }

    /// Compares images `first ..< first + actual.count` (reference index -> image, offset in it).
    mutating func add(first: Int, actual: [Tensor]) {
      let shape = expected.shape
      let outer = shape[..<imageAxis].reduce(1, *)
      let images = shape[imageAxis]
      let inner = shape[(imageAxis + 1)...].reduce(1, *)
      for o in 0..<outer {
        for (q, tensor) in actual.enumerated() {
          let image = first + q
          let values = tensor.values
          for k in 0..<inner {
            let flat = (o * images + image) * inner + k
            let reference = Double(expected.values[flat])
            let error = abs(Double(values[o * inner + k]) - reference)
            largest = max(largest, abs(reference))
            // NaN never compares greater; treat it as the worst possible error.
            if error > worst || error.isNaN && !worst.isNaN {
              worst = error
              worstFlat = flat
            }
          }
        }
      }
    }

    func result(_ tolerances: Tolerances) -> StageResult {
      let shape = expected.shape
      let tolerance = tolerances.tolerance(for: name)
      guard comparable else {
        return StageResult(
          stage: name, shape: shape, maxAbsoluteError: .infinity, maxRelativeError: .infinity,
          worstIndex: [], tolerance: tolerance, passed: false)
      }
      var index: [Int] = []
      var remainder = worstFlat
      for extent in shape.reversed() {
        index.insert(remainder % extent, at: 0)
        remainder /= extent
      }
      return StageResult(
        stage: name, shape: shape, maxAbsoluteError: worst,
        maxRelativeError: largest > 0 ? worst / largest : worst,
        worstIndex: index, tolerance: tolerance, passed: worst <= tolerance)
    }
  }
}
