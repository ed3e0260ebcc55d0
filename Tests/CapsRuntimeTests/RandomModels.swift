import CapsFormat
import CapsTestSupport

/// A small model with random weights for kernel cross-checks; odd sizes on purpose.
func randomModel(
  _ configuration: CapsNetConfiguration, softmaxAxis: RoutingSoftmaxAxis = .inputCapsules,
  iterations: Int = 3,
  seed: UInt64
) throws -> CapsModel {
  var generator = SeededGenerator(seed: seed)
  var weights: [String: Tensor] = [:]
  for (key, shape) in configuration.expectedShapes {
    let count = shape.reduce(1, *)
    let fanIn = shape.count > 1 ? shape.dropFirst().reduce(1, *) : 4
    let scale = key.hasPrefix("digit_capsules") ? Float(1.0) : 1 / Float(fanIn).squareRoot()
    weights[key] = Tensor(shape: shape, values: generator.floats(count, in: -scale...scale))
  }
  var metadata = ModelMetadata.reference(classCount: configuration.outputCapsules)
  metadata.softmaxAxis = softmaxAxis
  metadata.routingIterations = iterations
  return try CapsModel(configuration: configuration, metadata: metadata, weights: weights)
}

/// 13x13 input, conv1 5@3x3 -> 11x11, primary 3 types x 5D with 3x3 stride 2 -> 5x5 grid (75 capsules),
/// 4 outputs x 7D, decoder 9 -> 169.
let oddConfiguration = CapsNetConfiguration(
  inputSize: 13, inputChannels: 1, conv1Channels: 5, conv1Kernel: 3, primaryKernel: 3, primaryStride: 2,
  primaryTypes: 3, primaryDimension: 5, outputCapsules: 4, outputDimension: 7, decoderWidths: [9, 169])

/// Closer to the reference's proportions but small: 20x20 input, conv1 24@5x5, primary 6 x 8D (5x5, stride 2)
/// -> 6x6 grid, 10 x 16D outputs, decoder 40 -> 400.
let mediumConfiguration = CapsNetConfiguration(
  inputSize: 20, inputChannels: 1, conv1Channels: 24, conv1Kernel: 5, primaryKernel: 5, primaryStride: 2,
  primaryTypes: 6, primaryDimension: 8, outputCapsules: 10, outputDimension: 16, decoderWidths: [40, 400])

/// The reference's primary kernel (9 x 9, stride 2) at a small scale: 20x20 input, conv1 12@3x3 -> 18x18,
/// primary 4 x 4D -> a 5 x 5 grid (odd: Winograd's last 2 x 2 tiles are half outside), 4 x 6D
/// outputs, decoder 8 -> 400.
let ninesConfiguration = CapsNetConfiguration(
  inputSize: 20, inputChannels: 1, conv1Channels: 12, conv1Kernel: 3, primaryKernel: 9, primaryStride: 2,
  primaryTypes: 4, primaryDimension: 4, outputCapsules: 4, outputDimension: 6, decoderWidths: [8, 400])

/// The smallest primary kernel Winograd takes (7 x 7: component kernels of 4 and 3 taps, zero-padded):
/// 16x16 input, conv1 7@3x3 -> 14x14, primary 3 x 5D -> 4 x 4 grid.
let sevensConfiguration = CapsNetConfiguration(
  inputSize: 16, inputChannels: 1, conv1Channels: 7, conv1Kernel: 3, primaryKernel: 7, primaryStride: 2,
  primaryTypes: 3, primaryDimension: 5, outputCapsules: 3, outputDimension: 4, decoderWidths: [6, 256])

/// The largest (10 x 10: four 5 x 5 component kernels): 21x21 input, conv1 9@2x2 -> 20x20, primary
/// 2 x 6D -> a 6 x 6 grid.
let tensConfiguration = CapsNetConfiguration(
  inputSize: 21, inputChannels: 1, conv1Channels: 9, conv1Kernel: 2, primaryKernel: 10, primaryStride: 2,
  primaryTypes: 2, primaryDimension: 6, outputCapsules: 5, outputDimension: 3, decoderWidths: [7, 441])

/// Random digit-like pixels (0...255) for `count` images of `configuration`.
func randomPixels(_ configuration: CapsNetConfiguration, count: Int, seed: UInt64) -> [Float] {
  var generator = SeededGenerator(seed: seed)
  let size = configuration.inputChannels * configuration.inputSize * configuration.inputSize
  return (0..<(count * size)).map { _ in Float(Int.random(in: 0...255, using: &generator)) }
}
