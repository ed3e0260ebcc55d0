internal import CCapsKernels

/// The arithmetic of a session's convolutions.
public enum Precision: String, CaseIterable, Sendable {
  /// Single-precision floats everywhere (the reference arithmetic).
  case fp32
  /// conv1 and the primary convolution in integers: weights quantized per output channel to 7 bits
  /// when the network is created, activations to unsigned 8 bits per image (conv1's input: the
  /// pixels rounded to integers 0...255; the primary convolution's input: conv1's ReLU output over
  /// the image's largest value, scale = max / 255, computed per image during the run), exact int32
  /// sums, float outputs. Capsules, routing, squash and the decoder stay in fp32.
  case int8
}

/// An int8 GEMM micro-kernel (u8 activations x 7-bit signed weights, int32 sums).
public enum Int8GEMMKernel: String, CaseIterable, Sendable {
  /// 4 x 16, plain C.
  case portable
  /// 4 x 16, AVX2 vpmaddubsw + vpmaddwd.
  case avx2

  var id: Int32 {
    switch self {
    case .portable: Int32(CAPS_I8GEMM_PORTABLE.rawValue)
    case .avx2: Int32(CAPS_I8GEMM_AVX2.rawValue)
    }
  }

  /// Whether this CPU can run the kernel.
  public var isSupported: Bool { caps_i8gemm_kernel_supported(id) != 0 }

  /// The fastest int8 kernel this CPU runs.
  public static var best: Int8GEMMKernel {
    let id = caps_i8gemm_best_kernel()
    return allCases.first { $0.id == id } ?? .portable
  }

  /// The int8 kernels this CPU runs.
  public static var supported: [Int8GEMMKernel] { allCases.filter(\.isSupported) }
}

/// A K x N weight matrix quantized per column (output channel) to 7 bits and packed for an int8
/// kernel, with its column scales (weight ~ scale[j] * q[k][j]).
final class QuantizedMatrix: @unchecked Sendable {
  let rows: Int  // K
  let columns: Int  // N
  let storage: UnsafeMutableRawPointer
  /// Per-column scales.
  let scales: [Float]
  /// sum_k q[k][j] per column (to fold an input offset into the bias).
  let columnSums: [Int]

  /// Quantizes `values` (row-major K x N) and packs it for `kernel` (which this CPU must run).
  init(rows: Int, columns: Int, values: [Float], kernel: Int8GEMMKernel) {
    precondition(values.count == rows * columns, "quantized matrix needs K*N values")
    precondition(kernel.isSupported, "the \(kernel.rawValue) int8 GEMM kernel does not run on this CPU")
    self.rows = rows
    self.columns = columns
    var quantized = [Int8](repeating: 0, count: values.count)
    var scales = [Float](repeating: 1, count: columns)
    caps_quantize_columns_s7(Int32(rows), Int32(columns), values, Int32(columns), &quantized, &scales)
    var sums = [Int](repeating: 0, count: columns)
    for k in 0..<rows {
      for j in 0..<columns { sums[j] += Int(quantized[k * columns + j]) }
    }
    self.scales = scales
    columnSums = sums
    let bytes = caps_i8gemm_packed_b_bytes_for(kernel.id, Int32(rows), Int32(columns))
    storage = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
    let status = caps_i8gemm_pack_b_for(
      kernel.id, Int32(rows), Int32(columns), quantized, Int32(columns), storage)
    precondition(status == 0, "packing for the \(kernel.rawValue) int8 kernel failed (\(status))")
  }

  deinit { storage.deallocate() }
}

/// conv1 and the primary convolution of a network, ready for the int8 kernels.
///
/// conv1 reads the pixels as integers 0...255 (the normalisation is folded in: column scale
/// `s_w / (255 std)` and bias `b - (mean / std) s_w sum_k q`), conv2 reads conv1's output quantized
/// per image (row scale = that image's scale) with column scale `s_w`.
final class QuantizedConvolutions: Sendable {
  let kernel: Int8GEMMKernel
  let conv1: QuantizedMatrix
  let conv1Scale: AlignedBuffer
  let conv1Bias: AlignedBuffer
  let conv2: QuantizedMatrix
  let conv2Scale: AlignedBuffer

  /// `conv1Weights` and `conv2Weights` in GEMM layout (K x N row-major, as the fp32 network packs
  /// them), conv1's bias and the input normalisation.
  init(
    conv1Weights: [Float], conv1Inputs: Int, conv1Bias: [Float], conv2Weights: [Float], conv2Inputs: Int,
    outputs2: Int, mean: Float, std: Float, kernel: Int8GEMMKernel
  ) {
    self.kernel = kernel
    let outputs1 = conv1Bias.count
    let conv1 = QuantizedMatrix(rows: conv1Inputs, columns: outputs1, values: conv1Weights, kernel: kernel)
    self.conv1 = conv1
    conv1Scale = AlignedBuffer(conv1.scales.map { $0 / (255 * std) })
    self.conv1Bias = AlignedBuffer(
      (0..<outputs1).map { conv1Bias[$0] - (mean / std) * conv1.scales[$0] * Float(conv1.columnSums[$0]) })
    conv2 = QuantizedMatrix(rows: conv2Inputs, columns: outputs2, values: conv2Weights, kernel: kernel)
    conv2Scale = AlignedBuffer(conv2.scales)
  }
}
