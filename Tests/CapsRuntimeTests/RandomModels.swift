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

/// Random digit-like pixels (0...255) for `count` images of `configuration`.
func randomPixels(_ configuration: CapsNetConfiguration, count: Int, seed: UInt64) -> [Float] {
  var generator = SeededGenerator(seed: seed)
  let size = configuration.inputChannels * configuration.inputSize * configuration.inputSize
  return (0..<(count * size)).map { _ in Float(Int.random(in: 0...255, using: &generator)) }
}
