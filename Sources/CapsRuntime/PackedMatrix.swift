import CCapsKernels

/// A weight matrix B (K x N) packed once into the GEMM kernel's panel layout.
final class PackedMatrix: @unchecked Sendable {
  let rows: Int  // K
  let columns: Int  // N
  let storage: UnsafeMutablePointer<Float>

  /// Packs `values`, a row-major K x N matrix.
  init(rows: Int, columns: Int, values: [Float]) {
    precondition(values.count == rows * columns, "packed matrix needs K*N values")
    self.rows = rows
    self.columns = columns
    let count = caps_sgemm_packed_b_count(Int32(rows), Int32(columns))
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
    storage = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    values.withUnsafeBufferPointer {
      caps_sgemm_pack_b(Int32(rows), Int32(columns), $0.baseAddress, Int32(columns), storage)
    }
  }

  /// Packs the transpose of an output-major weight (N x K row-major, PyTorch's Linear/OIHW layout).
  convenience init(transposing weight: [Float], outputs: Int, inputs: Int) {
    var transposed = [Float](repeating: 0, count: weight.count)
    for o in 0..<outputs {
      for k in 0..<inputs { transposed[k * outputs + o] = weight[o * inputs + k] }
    }
    self.init(rows: inputs, columns: outputs, values: transposed)
  }

  deinit { UnsafeMutableRawPointer(storage).deallocate() }
}
