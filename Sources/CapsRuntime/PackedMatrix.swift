internal import CCapsKernels

/// A weight matrix B (K x N) packed once into a GEMM kernel's panel layout. The packed storage
/// records the kernel (and K, N), and `caps_sgemm_packed` runs that kernel: the kernel and its
/// tile sizes are fixed here, not by a global setting.
final class PackedMatrix: @unchecked Sendable {
  let rows: Int  // K
  let columns: Int  // N
  let kernel: GEMMKernel
  let storage: UnsafeMutablePointer<Float>

  /// Packs `values`, a row-major K x N matrix, for `kernel` (which this CPU must support).
  convenience init(rows: Int, columns: Int, values: [Float], kernel: GEMMKernel) {
    precondition(values.count == rows * columns, "packed matrix needs K*N values")
    self.init(rows: rows, columns: columns, values: UnsafeBufferPointer?.none, kernel: kernel, from: values)
  }

  /// Packs the row-major K x N matrix at `values` (K * N floats) for `kernel`.
  convenience init(rows: Int, columns: Int, values: UnsafeBufferPointer<Float>, kernel: GEMMKernel) {
    precondition(values.count == rows * columns, "packed matrix needs K*N values")
    self.init(rows: rows, columns: columns, values: values, kernel: kernel, from: nil)
  }

  private init(
    rows: Int, columns: Int, values pointer: UnsafeBufferPointer<Float>?, kernel: GEMMKernel,
    from array: [Float]?
  ) {
    precondition(kernel.isSupported, "the \(kernel.rawValue) GEMM kernel does not run on this CPU")
    self.rows = rows
    self.columns = columns
    self.kernel = kernel
    let count = caps_sgemm_packed_b_count_for(kernel.id, Int32(rows), Int32(columns))
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
    storage = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    let target = storage
    let pack = { (values: UnsafeBufferPointer<Float>) in
      caps_sgemm_pack_b_for(
        kernel.id, Int32(rows), Int32(columns), values.baseAddress, Int32(columns), target)
    }
    let status = pointer.map(pack) ?? array!.withUnsafeBufferPointer(pack)
    precondition(status == 0, "packing for the \(kernel.rawValue) kernel failed")
  }

  /// Packs the transpose of an output-major weight (N x K row-major, PyTorch's Linear/OIHW layout).
  convenience init(transposing weight: [Float], outputs: Int, inputs: Int, kernel: GEMMKernel) {
    self.init(
      rows: inputs, columns: outputs, values: Self.transposed(weight, outputs: outputs, inputs: inputs),
      kernel: kernel)
  }

  /// An output-major weight (N x K row-major) as the K x N matrix the GEMM multiplies by.
  static func transposed(_ weight: [Float], outputs: Int, inputs: Int) -> [Float] {
    var transposed = [Float](repeating: 0, count: weight.count)
    for o in 0..<outputs {
      for k in 0..<inputs { transposed[k * outputs + o] = weight[o * inputs + k] }
    }
    return transposed
  }

  /// Whether the packed storage is the K x N matrix packed for `kernel` that its header records
  /// (what `caps_sgemm_packed` checks before running; a product with another K or N returns -1).
  func isPacked(rows: Int, columns: Int, for kernel: GEMMKernel) -> Bool {
    rows == self.rows && columns == self.columns && kernel == self.kernel
      && caps_sgemm_packed_kernel(storage) == kernel.id && kernel.isSupported
  }

  deinit { UnsafeMutableRawPointer(storage).deallocate() }
}

/// A single-precision GEMM micro-kernel with its register tile (rows of A x columns of B).
public enum GEMMKernel: String, CaseIterable, Sendable {
  /// 6 x 16, generic vectors (NEON on arm64, SSE on x86, scalar elsewhere).
  case portable
  /// 6 x 16, AVX2 + FMA.
  case avx2
  /// 12 x 32, AVX-512F.
  case avx512

  var id: Int32 {
    switch self {
    case .portable: Int32(CAPS_SGEMM_PORTABLE.rawValue)
    case .avx2: Int32(CAPS_SGEMM_AVX2.rawValue)
    case .avx512: Int32(CAPS_SGEMM_AVX512.rawValue)
    }
  }

  /// Whether this CPU can run the kernel.
  public var isSupported: Bool { caps_sgemm_kernel_supported(id) != 0 }

  /// Rows of A and columns of B per micro-kernel call.
  public var tile: (rows: Int, columns: Int) {
    (Int(caps_sgemm_kernel_mr(id)), Int(caps_sgemm_kernel_nr(id)))
  }

  /// The fastest kernel this CPU runs.
  public static var best: GEMMKernel {
    let id = caps_sgemm_best_kernel()
    return allCases.first { $0.id == id } ?? .portable
  }

  /// The kernels this CPU runs.
  public static var supported: [GEMMKernel] { allCases.filter(\.isSupported) }
}
