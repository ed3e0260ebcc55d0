import CapsCore
import CapsFormat
import CapsRuntime

/// Compares the runtime with reference activations stage by stage; the code path behind
/// `capsconv verify` and the parity tests.
public enum ParityCheck {
  /// The error allowed on one stage, per element as NumPy's `allclose`:
  /// `|runtime - reference| <= atol + rtol * |reference|`.
  public struct Tolerance: Sendable, Encodable, Equatable {
    /// rtol, relative to each reference element.
    public var relative: Double
    /// atol; nil makes it `absoluteScale` times the largest |reference| of the stage, because the
    /// rounding error of a float32 sum grows with its terms, not with its result: an element near
    /// zero in a stage whose values reach 500 carries the error of sums of hundreds.
    public var absolute: Double?
    /// atol as a fraction of the stage's largest reference magnitude, when `absolute` is nil.
    public var absoluteScale: Double

    /// A tolerance; see the properties.
    public init(relative: Double, absolute: Double? = nil, absoluteScale: Double) {
      self.relative = relative
      self.absolute = absolute
      self.absoluteScale = absoluteScale
    }

    /// The atol used for a stage whose largest reference magnitude is `largest`.
    public func atol(largest: Double) -> Double { absolute ?? absoluteScale * largest }
  }

  /// The tolerance of every stage.
  public struct Tolerances: Sendable {
    /// For every stage not in `perStage`: rtol 1e-4, atol 1e-4 x the stage's largest |reference|.
    public var standard = Tolerance(relative: 1e-4, absoluteScale: 1e-4)
    /// Per stage name; `lengths`, which decide the class, get rtol 1e-5 and atol 1e-5 x largest.
    public var perStage: [String: Tolerance] = ["lengths": Tolerance(relative: 1e-5, absoluteScale: 1e-5)]

    /// The defaults above. They pass a correct model at any scale (measured errors are below 1e-6
    /// relative to each stage's largest value) and fail any indexing error (errors of the order of
    /// the values themselves).
    public init() {}

    /// The tolerance for stage `name`.
    public func tolerance(for name: String) -> Tolerance { perStage[name] ?? standard }
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
    /// Largest |runtime - reference| / |reference| over the elements whose reference is not 0.
    public var maxElementRelativeError: Double
    /// Largest |reference| of the stage.
    public var largestReference: Double
    /// Index (in the reference tensor) of the largest absolute error.
    public var worstIndex: [Int]
    /// The tolerance applied.
    public var tolerance: Tolerance
    /// The atol that was used (`tolerance.absolute`, or the scale times `largestReference`).
    public var absoluteTolerance: Double
    /// Elements outside `atol + rtol * |reference|` (or NaN).
    public var failingElements: Int
    /// Whether every element is within tolerance.
    public var passed: Bool
  }

  /// The whole comparison.
  public struct Report: Sendable, Encodable {
    /// One result per compared stage, in forward order.
    public var stages: [StageResult]
    /// Stages of the reference that could not be compared, with the reason.
    public var skipped: [String]
    /// Stages the runtime computes that the reference file does not carry (not compared).
    public var absent: [String]
    /// The order `conv2` was compared in (that of the imported checkpoint).
    public var conv2Order: PrimaryCapsuleOrder
    /// How the runtime computed the primary convolution.
    public var convolution: ConvolutionAlgorithm
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
    /// The first stage, in forward order, outside its tolerance.
    public var firstFailingStage: String? { stages.first { !$0.passed }?.stage }
  }

  /// Images per batch when verifying (memory stays bounded whatever the reference file claims).
  public static let defaultBatchSize = 32

  /// Runs `network` on the reference's pixels, `batchSize` images at a time, and compares every
  /// stage present in both. `convolution` forces the primary convolution's algorithm (nil: the
  /// network's default, Winograd where it applies).
  public static func run(
    network: CapsNetwork, reference: ReferenceActivations, tolerances: Tolerances = Tolerances(),
    threads: Int? = nil, batchSize: Int = defaultBatchSize, convolution: ConvolutionAlgorithm? = nil
  ) throws(VerificationError) -> Report {
    let c = network.configuration
    let imageSize = c.inputChannels * c.inputSize * c.inputSize
    guard reference.pixels.count == reference.count * imageSize else {
      throw VerificationError(
        .inputShapeDiffers, path: reference.path,
        detail:
          "pixels have shape \(reference.pixels.shape), the model takes \(c.inputChannels)x\(c.inputSize)x\(c.inputSize)",
        tensor: "pixels")
    }
    guard reference.routingIterations == network.metadata.routingIterations else {
      throw VerificationError(
        .routingIterationsDiffer, path: reference.path,
        detail:
          "made with \(reference.routingIterations) routing iterations, the model uses \(network.metadata.routingIterations)"
      )
    }
    let plan: InferencePlan
    do {
      plan = try InferencePlan.fitting(
        network: network, maxBatch: min(reference.count, batchSize), threads: threads,
        recordsIntermediates: true, convolution: convolution)
    } catch {
      throw VerificationError(
        .planTooLarge, path: reference.path, detail: error.description, underlying: error)
    }
    let session = InferenceSession(network: network, plan: plan)
    let conv2Order = network.metadata.sourcePrimaryOrder ?? .dimsMajor

    var comparisons: [String: StageComparison] = [:]
    var skipped: [String] = []
    var absent: [String] = []
    for name in ReferenceActivations.stageNames {
      guard let expected = reference.stages[name] else {
        if let stage = InferenceStage(rawValue: name), session.canReport(stage) { absent.append(name) }
        continue
      }
      guard let stage = InferenceStage(rawValue: name), session.canReport(stage) else {
        skipped.append("\(name): the model has no such stage")
        continue
      }
      let imageAxis = name == "coupling" ? 1 : 0
      var expectedShape = expected.shape
      expectedShape.remove(at: imageAxis)
      let actualShape = session.stageShape(stage)
      let comparable = actualShape.reduce(1, *) == expectedShape.reduce(1, *)
      if !comparable {
        skipped.append("\(name): reference shape \(expected.shape), runtime gives \(actualShape) per image")
      }
      comparisons[name] = StageComparison(
        name: name, expected: expected, imageAxis: imageAxis, tolerance: tolerances.tolerance(for: name),
        comparable: comparable)
    }

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
        guard comparisons[name]?.comparable == true, let stage = InferenceStage(rawValue: name) else {
          continue
        }
        var actual = (0..<count).map { session.stageOutput(stage, image: $0) }
        if name == "conv2", conv2Order != .dimsMajor {
          // The reference recorded conv2 in its own channel order: compare in that order.
          actual = actual.map { inSourceOrder($0, order: conv2Order, configuration: c) }
        }
        comparisons[name]?.add(first: first, actual: actual)
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
    let results = ReferenceActivations.stageNames.compactMap { comparisons[$0]?.result }
    let mismatched = (0..<reference.count).filter { predictions[$0] != reference.predictions[$0] }
    return Report(
      stages: results, skipped: skipped, absent: absent, conv2Order: conv2Order,
      convolution: plan.convolution,
      predictions: predictions,
      referencePredictions: reference.predictions,
      mismatchedImages: mismatched, nonFiniteImages: nonFinite)
  }

  /// A runtime conv2 output [T*D, G, G] (reference channel order) in the checkpoint's `order`.
  private static func inSourceOrder(
    _ tensor: Tensor, order: PrimaryCapsuleOrder, configuration c: CapsNetConfiguration
  ) -> Tensor {
    guard let channels = tensor.shape.first, channels == c.primaryTypes * c.primaryDimension else {
      return tensor
    }
    let width = tensor.count / channels
    var values = [Float](repeating: 0, count: tensor.count)
    for channel in 0..<channels {
      let to = order.sourceChannel(
        forReferenceChannel: channel, types: c.primaryTypes, dimension: c.primaryDimension)
      for k in 0..<width { values[to * width + k] = tensor.values[channel * width + k] }
    }
    return Tensor(shape: tensor.shape, values: values)
  }

  /// The comparison of one stage, accumulated batch by batch (per element: NumPy's `allclose`).
  private struct StageComparison {
    let name: String
    let expected: Tensor
    let imageAxis: Int
    let tolerance: Tolerance
    let comparable: Bool
    /// Largest |reference| of the whole stage, and the atol it gives.
    let largest: Double
    let atol: Double
    var worst = 0.0
    var worstFlat = 0
    var worstRelative = 0.0
    var failing = 0

    init(name: String, expected: Tensor, imageAxis: Int, tolerance: Tolerance, comparable: Bool) {
      self.name = name
      self.expected = expected
      self.imageAxis = imageAxis
      self.tolerance = tolerance
      self.comparable = comparable
      largest = expected.values.reduce(0.0) { max($0, abs(Double($1))) }
      atol = tolerance.atol(largest: largest)
    }

    /// Compares images `first ..< first + actual.count` (reference index -> image, offset in it).
    mutating func add(first: Int, actual: [Tensor]) {
      let shape = expected.shape
      let outer = shape[..<imageAxis].reduce(1, *)
      let images = shape[imageAxis]
      let inner = shape[(imageAxis + 1)...].reduce(1, *)
      for o in 0..<outer {
        for (q, tensor) in actual.enumerated() {
          let values = tensor.values
          for k in 0..<inner {
            let flat = (o * images + first + q) * inner + k
            let reference = Double(expected.values[flat])
            let error = abs(Double(values[o * inner + k]) - reference)
            // NaN never compares greater; treat it as the worst possible error.
            if error > worst || error.isNaN && !worst.isNaN {
              worst = error
              worstFlat = flat
            }
            if !(error <= atol + tolerance.relative * abs(reference)) { failing += 1 }
            if reference != 0 { worstRelative = max(worstRelative, error / abs(reference)) }
          }
        }
      }
    }

    var result: StageResult {
      let shape = expected.shape
      guard comparable else {
        return StageResult(
          stage: name, shape: shape, maxAbsoluteError: .infinity, maxRelativeError: .infinity,
          maxElementRelativeError: .infinity, largestReference: 0, worstIndex: [], tolerance: tolerance,
          absoluteTolerance: 0, failingElements: expected.count, passed: false)
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
        maxElementRelativeError: worstRelative, largestReference: largest,
        worstIndex: index, tolerance: tolerance, absoluteTolerance: atol, failingElements: failing,
        passed: failing == 0)
    }
  }
}
