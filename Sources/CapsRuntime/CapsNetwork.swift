internal import CCapsKernels
import CapsCore
import Foundation

/// A capsule network ready for inference: weights packed once for the kernels, immutable, and
/// shareable by any number of `InferenceSession`s on any threads.
///
/// The primary convolution has three forms (im2col GEMM, Winograd, int8), each derived from the
/// model's weight the first time a session needs it and kept from then on: a network used only in
/// fp32 with Winograd never packs the other two (startup time and memory).
public final class CapsNetwork: Sendable {
  /// The architecture, as inferred from the model's tensors.
  public let configuration: CapsNetConfiguration
  /// Routing iterations, softmax axis, squash epsilon, normalisation and labels.
  public let metadata: ModelMetadata

  let conv1: PackedMatrix
  let conv1Bias: AlignedBuffer
  let conv2Bias: AlignedBuffer
  /// digit_capsules.weight as stored: [inputs][outputs][dimIn][dimOut].
  let routingWeights: AlignedBuffer
  let decoder: [(weights: PackedMatrix, bias: AlignedBuffer)]
  /// The GEMM kernel the weights are packed for (and that every run uses).
  public let kernel: GEMMKernel
  /// The int8 GEMM kernel the quantized convolutions are packed for.
  public let int8Kernel: Int8GEMMKernel

  private let directConv2: Derived<PackedMatrix>
  private let winogradConv2: Derived<WinogradWeights>?
  private let quantizedConvolutions: Derived<QuantizedConvolutions>

  /// conv2 as rows (kh, kw, c) by columns o, packed for `kernel` (direct fp32 sessions).
  var conv2: PackedMatrix { directConv2.value }
  /// conv2 in Winograd form (fp32 Winograd sessions); nil when its kernel and stride are not ones
  /// the transforms take.
  var winograd: WinogradWeights? { winogradConv2?.value }
  /// conv1 and conv2 quantized for `Precision.int8` sessions.
  var quantized: QuantizedConvolutions { quantizedConvolutions.value }

  /// Whether the primary convolution can run as ``ConvolutionAlgorithm/winograd`` (stride 2, a
  /// kernel of 7 to 10 taps: the reference's 9 x 9 / 2 can). Asking makes nothing.
  public var supportsWinograd: Bool { winogradConv2 != nil }

  /// Packs `model`'s weights for `kernel` (default: the fastest this CPU runs; tests force the
  /// others); the primary convolution's forms, and the int8 quantization for `int8Kernel` (the
  /// model stays fp32; both precisions run from one network), are made when a session first needs
  /// them. Traps if this CPU cannot run a kernel (check `isSupported`).
  public init(_ model: CapsModel, kernel: GEMMKernel = .best, int8Kernel: Int8GEMMKernel = .best) {
    let c = model.configuration
    configuration = c
    metadata = model.metadata
    self.kernel = kernel
    precondition(
      int8Kernel.isSupported, "the \(int8Kernel.rawValue) int8 GEMM kernel does not run on this CPU")
    self.int8Kernel = int8Kernel
    let conv1Inputs = c.inputChannels * c.conv1Kernel * c.conv1Kernel
    let conv1Transposed = PackedMatrix.transposed(
      model.tensor("conv1.weight").values, outputs: c.conv1Channels, inputs: conv1Inputs)
    conv1 = PackedMatrix(rows: conv1Inputs, columns: c.conv1Channels, values: conv1Transposed, kernel: kernel)
    let conv1BiasValues = model.tensor("conv1.bias").values
    conv1Bias = AlignedBuffer(conv1BiasValues)
    conv2Bias = AlignedBuffer(model.tensor("conv2.bias").values)

    let k = c.primaryKernel
    let inputs = c.conv1Channels
    let outputs = c.primaryChannels
    let weight = model.tensor("conv2.weight").values  // OIHW; shares the model's storage
    directConv2 = Derived {
      PackedMatrix(
        rows: k * k * inputs, columns: outputs,
        values: Self.gemmOrder(weight, outputs: outputs, inputs: inputs, kernel: k),
        kernel: kernel)
    }
    winogradConv2 =
      caps_winograd_supported(Int32(k), Int32(c.primaryStride)) != 0
      ? Derived {
        WinogradWeights(weight: weight, outputs: outputs, inputs: inputs, kernelSize: k, kernel: kernel)
      }
      : nil
    let normalization = model.metadata.normalization
    quantizedConvolutions = Derived {
      QuantizedConvolutions(
        conv1Weights: conv1Transposed, conv1Inputs: conv1Inputs, conv1Bias: conv1BiasValues,
        conv2Weights: Self.gemmOrder(weight, outputs: outputs, inputs: inputs, kernel: k),
        conv2Inputs: k * k * inputs,
        outputs2: outputs, mean: Float(normalization.mean), std: Float(normalization.std), kernel: int8Kernel)
    }
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

  /// An OIHW convolution weight as the K x N GEMM matrix of `caps_im2col_nhwc`'s columns: rows
  /// (kh, kw, c), columns o.
  static func gemmOrder(_ weight: [Float], outputs: Int, inputs: Int, kernel k: Int) -> [Float] {
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
    return reordered
  }

  /// Stops with a precondition failure unless every packed weight matrix a session of `plan` uses
  /// has the K x N of the GEMM that uses it and was packed for `kernel` (each session checks once,
  /// at creation; this also makes the primary convolution's form the plan needs).
  func checkPackedWeights(for plan: InferencePlan) {
    let c = configuration
    var expected = [("conv1", conv1, c.inputChannels * c.conv1Kernel * c.conv1Kernel, c.conv1Channels)]
    if plan.precision == .fp32, plan.convolution == .direct {
      expected.append(
        ("conv2", conv2, c.primaryKernel * c.primaryKernel * c.conv1Channels, c.primaryChannels))
    }
    var width = c.outputCapsules * c.outputDimension
    for (index, layer) in decoder.enumerated() {
      expected.append(("decoder layer \(index)", layer.weights, width, c.decoderWidths[index]))
      width = c.decoderWidths[index]
    }
    precondition(decoder.count == c.decoderWidths.count, "the decoder has \(decoder.count) layers")
    if plan.precision == .fp32, plan.convolution == .winograd {
      guard let winograd else { preconditionFailure("the network has no Winograd form of conv2") }
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

/// A value made on first use, once, whichever thread asks first (the others wait for it).
private final class Derived<Value: Sendable>: @unchecked Sendable {
  private let lock = NSLock()
  private var made: Value?
  private var make: (@Sendable () -> Value)?

  init(_ make: @escaping @Sendable () -> Value) { self.make = make }

  var value: Value {
    lock.lock()
    defer { lock.unlock() }
    if let made { return made }
    let value = make!()
    made = value
    make = nil  // drops what the maker captured once nothing else needs it
    return value
  }
}
