import CapsCore

/// The stages of the forward pass whose outputs can be compared with a reference.
public enum InferenceStage: String, CaseIterable, Sendable {
  /// Normalised input, [channels, size, size].
  case input
  /// First convolution after ReLU, [conv1Channels, conv1OutputSize, conv1OutputSize].
  case conv1
  /// Primary convolution (no activation), [primaryChannels, grid, grid].
  case conv2
  /// Primary capsules after squash, [inputCapsules, primaryDimension].
  case primary
  /// Prediction vectors, [inputCapsules, outputCapsules, outputDimension].
  case predictionVectors = "u_hat"
  /// Coupling coefficients of every routing iteration, [iterations, inputCapsules, outputCapsules].
  case couplings = "coupling"
  /// Output capsules, [outputCapsules, outputDimension].
  case digitCapsules = "digit_caps"
  /// Output capsule lengths, [outputCapsules].
  case lengths
  /// Decoder output, [size, size] (needs a run with `reconstruct: true`).
  case reconstruction
}

extension InferenceSession {
  /// Whether `stage` can be read after a run with this session's plan.
  public func canReport(_ stage: InferenceStage) -> Bool {
    switch stage {
    case .conv1, .conv2, .primary, .predictionVectors, .couplings: plan.recordsIntermediates
    case .reconstruction: network.configuration.hasDecoder
    case .input, .digitCapsules, .lengths: true
    }
  }

  /// The shape of one image's output of `stage` (what ``stageOutput(_:image:)`` returns), known
  /// before any run.
  public func stageShape(_ stage: InferenceStage) -> [Int] {
    let c = network.configuration
    switch stage {
    case .input: return [c.inputChannels, c.inputSize, c.inputSize]
    case .conv1: return [c.conv1Channels, c.conv1OutputSize, c.conv1OutputSize]
    case .conv2: return [c.primaryChannels, c.primaryGrid, c.primaryGrid]
    case .primary: return [c.inputCapsules, c.primaryDimension]
    case .predictionVectors: return [c.inputCapsules, c.outputCapsules, c.outputDimension]
    case .couplings: return [network.metadata.routingIterations, c.inputCapsules, c.outputCapsules]
    case .digitCapsules: return [c.outputCapsules, c.outputDimension]
    case .lengths: return [c.outputCapsules]
    case .reconstruction:
      let pixels = c.decoderWidths.last ?? 0
      return pixels == c.inputSize * c.inputSize ? [c.inputSize, c.inputSize] : [pixels]
    }
  }

  /// A copy of one image's output of `stage` from the last run, in the reference (PyTorch) layout.
  ///
  /// Allocates; meant for verification, not the hot path. Intermediate stages need a plan made
  /// with `recordsIntermediates: true` (check `canReport(_:)`), the reconstruction a run with
  /// `reconstruct: true`; `image` is 0 ..< `lastBatch`. Anything else is a precondition failure.
  public func stageOutput(_ stage: InferenceStage, image: Int) -> Tensor {
    let layout = plan.layout
    checkImage(image)
    precondition(canReport(stage), "the plan does not record stage \(stage.rawValue)")
    precondition(
      stage != .reconstruction || lastRunReconstructed,
      "the last run did not reconstruct (reconstruct: false)")
    let shape = stageShape(stage)
    let count = shape.reduce(1, *)
    func slice(_ offset: Int) -> Tensor {
      let start = arenaPointer(offset) + image * count
      return Tensor(shape: shape, values: Array(UnsafeBufferPointer(start: start, count: count)))
    }
    /// Stored NHWC (positions x channels), returned channels first.
    func channelsFirst(_ offset: Int) -> Tensor {
      let channels = shape[0]
      let positions = count / channels
      let source = arenaPointer(offset) + image * count
      var values = [Float](repeating: 0, count: count)
      for p in 0..<positions {
        for ch in 0..<channels { values[ch * positions + p] = source[p * channels + ch] }
      }
      return Tensor(shape: shape, values: values)
    }
    switch stage {
    case .input: return slice(layout.input)
    case .conv1: return channelsFirst(layout.recordConv1)
    case .conv2: return channelsFirst(layout.recordConv2)
    case .primary: return slice(layout.recordPrimary)
    case .predictionVectors: return slice(layout.recordPredictions)
    case .couplings: return slice(layout.recordCouplings)
    case .digitCapsules: return slice(layout.digitCapsules)
    case .lengths: return slice(layout.lengths)
    case .reconstruction: return slice(layout.reconstruction)
    }
  }
}
