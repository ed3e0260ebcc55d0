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
  /// digit_capsules.weight as stored: [inputs][outputs][dimIn][dimOut].
  let routingWeights: AlignedBuffer
  let decoder: [(weights: PackedMatrix, bias: AlignedBuffer)]
  /// The GEMM kernel the weights are packed for (and that every run uses).
  public let kernel: GEMMKernel

  /// Packs `model`'s weights for `kernel` (default: the fastest this CPU runs; tests force the
  /// others). Traps if this CPU cannot run `kernel` (check `GEMMKernel.isSupported`).
  public init(_ model: CapsModel, kernel: GEMMKernel = .best) {
    let c = model.configuration
    configuration = c
    metadata = model.metadata
    self.kernel = kernel
    let conv1Inputs = c.inputChannels * c.conv1Kernel * c.conv1Kernel
    conv1 = PackedMatrix(
      transposing: model.tensor("conv1.weight").values, outputs: c.conv1Channels, inputs: conv1Inputs,
      kernel: kernel)
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

  /// Name of the GEMM kernel networks use on this CPU by default: "avx512", "avx2" or "portable".
  public static var kernelName: String { GEMMKernel.best.rawValue }
}
