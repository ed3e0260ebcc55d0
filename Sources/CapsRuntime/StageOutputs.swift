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

  /// A copy of one image's output of `stage` from the last run, in the reference (PyTorch) layout.
  ///
  /// Allocates; meant for verification, not the hot path. Intermediate stages need a plan made
  /// with `recordsIntermediates: true`; check `canReport(_:)`.
  public func stageOutput(_ stage: InferenceStage, image: Int) -> Tensor {
    let c = network.configuration
    let layout = plan.layout
    func slice(_ offset: Int, _ shape: [Int]) -> Tensor {
      let count = shape.reduce(1, *)
      let start = arenaPointer(offset) + image * count
      return Tensor(shape: shape, values: Array(UnsafeBufferPointer(start: start, count: count)))
    }
    func channelsFirst(_ offset: Int, side: Int, channels: Int) -> Tensor {
      let positions = side * side
      let source = arenaPointer(offset) + image * positions * channels
      var values = [Float](repeating: 0, count: positions * channels)
      for p in 0..<positions {
        for ch in 0..<channels { values[ch * positions + p] = source[p * channels + ch] }
      }
      return Tensor(shape: [channels, side, side], values: values)
    }
    switch stage {
    case .input: return slice(layout.input, [c.inputChannels, c.inputSize, c.inputSize])
    case .conv1: return channelsFirst(layout.recordConv1, side: c.conv1OutputSize, channels: c.conv1Channels)
    case .conv2: return channelsFirst(layout.recordConv2, side: c.primaryGrid, channels: c.primaryChannels)
    case .primary: return slice(layout.recordPrimary, [c.inputCapsules, c.primaryDimension])
    case .predictionVectors:
      return slice(layout.recordPredictions, [c.inputCapsules, c.outputCapsules, c.outputDimension])
    case .couplings:
      return slice(
        layout.recordCouplings, [network.metadata.routingIterations, c.inputCapsules, c.outputCapsules])
    case .digitCapsules: return slice(layout.digitCapsules, [c.outputCapsules, c.outputDimension])
    case .lengths: return slice(layout.lengths, [c.outputCapsules])
    case .reconstruction:
      let pixels = c.decoderWidths.last ?? 0
      let side = c.inputSize
      return slice(layout.reconstruction, pixels == side * side ? [side, side] : [pixels])
    }
  }
}
