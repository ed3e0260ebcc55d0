internal import CCapsKernels

/// How the primary-capsule convolution (conv2: 9 x 9, stride 2 in the reference) is computed.
public enum ConvolutionAlgorithm: String, CaseIterable, Sendable, Encodable {
  /// im2col and one GEMM: the reference's arithmetic, 81 multiply-adds per tap row and channel.
  case direct
  /// Winograd F(2x2, 5x5) on the four polyphase components of the stride-2 convolution: 2.25
  /// times fewer multiply-adds for a 9 x 9 kernel, errors of the same order as the direct GEMM's
  /// (see `caps_winograd.h` and docs/PERFORMANCE.md). fp32 only; kernels of 7 to 10 taps with
  /// stride 2.
  case winograd
}

/// The primary convolution's weights in Winograd form: the 36 GEMM right-hand sides
/// (4 x input channels by output channels), each packed for the network's GEMM kernel.
final class WinogradWeights: Sendable {
  let positions: [PackedMatrix]
  /// K of every GEMM: 4 polyphase components x input channels.
  let depth: Int
  let outputs: Int

  /// Transforms an OIHW weight of a stride-2 convolution whose kernel side `caps_winograd_supported`
  /// takes (a precondition).
  init(weight: [Float], outputs: Int, inputs: Int, kernelSize: Int, kernel: GEMMKernel) {
    let depth = Int(CAPS_WINOGRAD_PHASES) * inputs
    let count = Int(CAPS_WINOGRAD_POSITIONS)
    let size = depth * outputs
    var transformed = [Float](repeating: 0, count: count * size)
    positions = transformed.withUnsafeMutableBufferPointer { target in
      let status = weight.withUnsafeBufferPointer {
        caps_winograd_transform_weights(
          $0.baseAddress, Int32(outputs), Int32(inputs), Int32(kernelSize), target.baseAddress)
      }
      precondition(status == 0, "the Winograd weight transform refused the kernel")
      return (0..<count).map { k in
        PackedMatrix(
          rows: depth, columns: outputs,
          values: UnsafeBufferPointer(rebasing: target[(k * size)..<((k + 1) * size)]), kernel: kernel)
      }
    }
    self.depth = depth
    self.outputs = outputs
  }

  /// Whether every packed matrix is the depth x outputs matrix packed for `kernel`.
  func isPacked(for kernel: GEMMKernel) -> Bool {
    positions.count == Int(CAPS_WINOGRAD_POSITIONS)
      && positions.allSatisfy { $0.isPacked(rows: depth, columns: outputs, for: kernel) }
  }
}

extension CapsNetwork {
  /// The algorithm a plan of `precision` uses unless told otherwise: Winograd for fp32 when the
  /// network supports it, else direct (int8 is always direct).
  public func defaultConvolution(for precision: Precision) -> ConvolutionAlgorithm {
    precision == .fp32 && supportsWinograd ? .winograd : .direct
  }
}
