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
    /// Every stage within tolerance and every prediction identical.
    public var passed: Bool { stages.allSatisfy(\.passed) && mismatchedImages.isEmpty }
  }

  /// Runs `network` on the reference's pixels (one batch) and compares every stage present in both.
  public static func run(
    network: CapsNetwork, reference: ReferenceActivations, tolerances: Tolerances = Tolerances(),
    threads: Int? = nil
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
    let plan = InferencePlan(
      network: network, maxBatch: reference.count, threads: threads, recordsIntermediates: true)
    let session = InferenceSession(network: network, plan: plan)
    reference.pixels.values.withUnsafeBufferPointer {
      session.run(batch: reference.count, pixels: $0, reconstruct: c.hasDecoder)
    }

    var results: [StageResult] = []
    var skipped: [String] = []
    for name in ReferenceActivations.stageNames {
      guard let expected = reference.stages[name] else { continue }
      guard let stage = InferenceStage(rawValue: name), session.canReport(stage) else {
        skipped.append("\(name): the model has no such stage")
        continue
      }
      let imageAxis = name == "coupling" ? 1 : 0
      let perImage = (0..<reference.count).map { session.stageOutput(stage, image: $0) }
      var expectedShape = expected.shape
      expectedShape.remove(at: imageAxis)
      guard perImage[0].shape.reduce(1, *) == expectedShape.reduce(1, *) else {
        skipped.append(
          "\(name): reference shape \(expected.shape), runtime gives \(perImage[0].shape) per image")
        results.append(
          StageResult(
            stage: name, shape: expected.shape, maxAbsoluteError: .infinity, maxRelativeError: .infinity,
            worstIndex: [], tolerance: tolerances.tolerance(for: name), passed: false))
        continue
      }
      results.append(
        compare(
          name: name, expected: expected, imageAxis: imageAxis, actual: perImage, tolerances: tolerances))
    }
    let predictions = (0..<reference.count).map { session.prediction(at: $0) }
    let mismatched = (0..<reference.count).filter { predictions[$0] != reference.predictions[$0] }
    return Report(
      stages: results, skipped: skipped, predictions: predictions,
      referencePredictions: reference.predictions,
      mismatchedImages: mismatched)
  }

  private static func compare(
    name: String, expected: Tensor, imageAxis: Int, actual: [Tensor], tolerances: Tolerances
  ) -> StageResult {
    // Reference index -> (image, offset within that image's tensor).
    let shape = expected.shape
    let outer = shape[..<imageAxis].reduce(1, *)
    let images = shape[imageAxis]
    let inner = shape[(imageAxis + 1)...].reduce(1, *)
    var worst = 0.0
    var worstFlat = 0
    var largest = 0.0
    for o in 0..<outer {
      for image in 0..<images {
        let values = actual[image].values
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
    var index: [Int] = []
    var remainder = worstFlat
    for extent in shape.reversed() {
      index.insert(remainder % extent, at: 0)
      remainder /= extent
    }
    let tolerance = tolerances.tolerance(for: name)
    return StageResult(
      stage: name, shape: shape, maxAbsoluteError: worst,
      maxRelativeError: largest > 0 ? worst / largest : worst,
      worstIndex: index, tolerance: tolerance, passed: worst <= tolerance)
  }
}
