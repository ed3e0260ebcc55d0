internal import CCapsKernels
import CapsCore

/// A capsule network ready for inference: weights packed once for the kernels, immutable, and
/// shareable by any number of `InferenceSession`s on any threads.
public final class CapsNetwork: Sendable {
  /// The architecture, as inferred from the model's tensors.
  public let configuration: CapsNetConfiguration
  /// Routing iterations, softmax axis, squash epsilon, normalisation and labels.
  public let metadata: ModelMetadata

  let conv1: PackedMatrix
  let conv1Bias: AlignedBuffer
  let conv2: PackedMatrix
  let conv2Bias: AlignedBuffer
  /// conv2 in Winograd form (nil when its kernel and stride are not ones the transforms take).
  let winograd: WinogradWeights?
  /// digit_capsules.weight as stored: [inputs][outputs][dimIn][dimOut].
  let routingWeights: AlignedBuffer
  let decoder: [(weights: PackedMatrix, bias: AlignedBuffer)]
  /// The GEMM kernel the weights are packed for (and that every run uses).
  public let kernel: GEMMKernel
  /// conv1 and conv2 quantized for `Precision.int8` sessions.
  let quantized: QuantizedConvolutions
  /// The int8 GEMM kernel the quantized convolutions are packed for.
  public var int8Kernel: Int8GEMMKernel { quantized.kernel }

  /// Packs `model`'s weights for `kernel` (default: the fastest this CPU runs; tests force the
  /// others) and quantizes the convolutions for `int8Kernel` (the model stays fp32; both
  /// precisions run from one network). Traps if this CPU cannot run a kernel (check `isSupported`).
  public init(_ model: CapsModel, kernel: GEMMKernel = .best, int8Kernel: Int8GEMMKernel = .best) {
    let c = model.configuration
    configuration = c
    metadata = model.metadata
    self.kernel = kernel
    let conv1Inputs = c.inputChannels * c.conv1Kernel * c.conv1Kernel
    let conv1Transposed = PackedMatrix.transposed(
      model.tensor("conv1.weight").values, outputs: c.conv1Channels, inputs: conv1Inputs)
    conv1 = PackedMatrix(rows: conv1Inputs, columns: c.conv1Channels, values: conv1Transposed, kernel: kernel)
    conv1Bias = AlignedBuffer(model.tensor("conv1.bias").values)

    // OIHW -> rows (kh, kw, c), columns o: the order caps_im2col_nhwc produces.
    let k = c.primaryKernel
    let inputs = c.conv1Channels
    let outputs = c.primaryChannels
    let weight = model.tensor("conv2.weight").values
    var reordered = [Float](repeating: 0, count: weight.count)
    for o in 0..<outputs {
      for ci in 0..<inputs {
        for kh in 0..<k {
          for kw in 0..<k {
            reordered[((kh * k + kw) * inputs + ci) * outputs + o] =
              weight[((o * inputs + ci) * k + kh) * k + kw]
          }
        }
      }
    }
    conv2 = PackedMatrix(rows: k * k * inputs, columns: outputs, values: reordered, kernel: kernel)
    conv2Bias = AlignedBuffer(model.tensor("conv2.bias").values)
    winograd = WinogradWeights(
      weight: weight, outputs: outputs, inputs: inputs, kernelSize: k, stride: c.primaryStride, kernel: kernel
    )
    let normalization = model.metadata.normalization
    quantized = QuantizedConvolutions(
      conv1Weights: conv1Transposed, conv1Inputs: conv1Inputs, conv1Bias: model.tensor("conv1.bias").values,
      conv2Weights: reordered, conv2Inputs: k * k * inputs, outputs2: outputs,
      mean: Float(normalization.mean),
      std: Float(normalization.std), kernel: int8Kernel)
    routingWeights = AlignedBuffer(model.tensor("digit_capsules.weight").values)

    var layers: [(PackedMatrix, AlignedBuffer)] = []
    var width = c.outputCapsules * c.outputDimension
    for (index, outputs) in c.decoderWidths.enumerated() {
      let matrix = PackedMatrix(
        transposing: model.tensor("decoder.\(index * 2).weight").values, outputs: outputs, inputs: width,
        kernel: kernel)
      layers.append((matrix, AlignedBuffer(model.tensor("decoder.\(index * 2).bias").values)))
      width = outputs
    }
    decoder = layers
  }

  /// Stops with a precondition failure unless every packed weight matrix has the K x N of the GEMM
  /// that uses it and was packed for `kernel` (each session checks once, at creation).
  func checkPackedWeights() {
    let c = configuration
    var expected = [
      ("conv1", conv1, c.inputChannels * c.conv1Kernel * c.conv1Kernel, c.conv1Channels),
      ("conv2", conv2, c.primaryKernel * c.primaryKernel * c.conv1Channels, c.primaryChannels),
    ]
    var width = c.outputCapsules * c.outputDimension
    for (index, layer) in decoder.enumerated() {
      expected.append(("decoder layer \(index)", layer.weights, width, c.decoderWidths[index]))
      width = c.decoderWidths[index]
    }
    precondition(decoder.count == c.decoderWidths.count, "the decoder has \(decoder.count) layers")
    if let winograd {
      precondition(
        winograd.isPacked(for: kernel) && winograd.depth == 4 * c.conv1Channels
          && winograd.outputs == c.primaryChannels,
        "conv2's Winograd weights are not the 36 matrices packed for the \(kernel.rawValue) kernel")
    }
    for (name, matrix, rows, columns) in expected {
      precondition(
        matrix.isPacked(rows: rows, columns: columns, for: kernel),
        "\(name)'s packed weights are not the \(rows) x \(columns) matrix packed for the \(kernel.rawValue) kernel"
      )
    }
  }

  /// Name of the GEMM kernel networks use on this CPU by default: "avx512", "avx2" or "portable".
  public static var kernelName: String { GEMMKernel.best.rawValue }
}
