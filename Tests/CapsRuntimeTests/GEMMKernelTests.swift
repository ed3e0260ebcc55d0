import CCapsKernels
import CapsFormat
import CapsRuntime
import CapsTestSupport
import Foundation
import Testing

/// Every GEMM kernel this CPU runs (not only the one it picks), forced per test, against a
/// Double reference computed here; and the packed weights' record of their kernel.
@Suite struct GEMMKernelTests {
  /// (M, N, K): odd edges, K across several K-blocks with a ragged end, the conv2 shape of one
  /// image (36 x 256 x 20736 with K cut to keep debug builds fast) and a decoder-like one.
  static let shapes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (5, 17, 9), (13, 33, 300), (37, 64, 1100), (36, 256, 777), (7, 100, 160),
  ]

  @Test(arguments: GEMMKernel.supported)
  func matchesDoubleReference(kernel: GEMMKernel) {
    var random = SplitMix(seed: 11)
    for (index, shape) in Self.shapes.enumerated() {
      let (m, n, k) = shape
      let a = (0..<(m * k)).map { _ in random.nextFloat() }
      let b = (0..<(k * n)).map { _ in random.nextFloat() }
      let bias = (0..<n).map { _ in random.nextFloat() }
      let relu = index % 2 == 1
      var packed = [Float](repeating: 0, count: caps_sgemm_packed_b_count_for(kernel.id, Int32(k), Int32(n)))
      #expect(caps_sgemm_pack_b_for(kernel.id, Int32(k), Int32(n), b, Int32(n), &packed) == 0)
      #expect(caps_sgemm_packed_kernel(packed) == kernel.id)
      var scratch = [Float](repeating: 0, count: caps_sgemm_scratch_count(Int32(m), Int32(k)))
      var c = [Float](repeating: .nan, count: m * n)
      // Columns in two aligned ranges, as the runtime splits them across threads.
      let align = Int(caps_sgemm_n_align())
      let cut = min(n, (n / 2 + align - 1) / align * align)
      for range in [cut..<n, 0..<cut] where !range.isEmpty {
        let status = caps_sgemm_packed(
          Int32(m), Int32(n), Int32(k), a, Int32(k), packed, bias, relu ? 1 : 0, &c, Int32(n),
          Int32(range.lowerBound), Int32(range.upperBound), &scratch)
        #expect(status == 0)
      }
      var worst = 0.0
      for i in 0..<m {
        for j in 0..<n {
          var sum = Double(bias[j])
          var magnitude = abs(Double(bias[j]))
          for p in 0..<k {
            let product = Double(a[i * k + p]) * Double(b[p * n + j])
            sum += product
            magnitude += abs(product)
          }
          if relu { sum = max(0, sum) }
          worst = max(worst, abs(Double(c[i * n + j]) - sum) / (magnitude + 1e-30))
        }
      }
      #expect(worst < 1e-5, "\(kernel) \(m)x\(n)x\(k): relative error \(worst)")
    }
  }

  @Test(arguments: GEMMKernel.supported)
  func refusesPackedWeightsOfAnotherShape(kernel: GEMMKernel) {
    let (m, n, k) = (4, 24, 40)
    let b = [Float](repeating: 1, count: k * n)
    var packed = [Float](repeating: 0, count: caps_sgemm_packed_b_count_for(kernel.id, Int32(k), Int32(n)))
    #expect(caps_sgemm_pack_b_for(kernel.id, Int32(k), Int32(n), b, Int32(n), &packed) == 0)
    let a = [Float](repeating: 1, count: m * k)
    var scratch = [Float](repeating: 0, count: caps_sgemm_scratch_count(Int32(m), Int32(k)))
    var c = [Float](repeating: -7, count: m * n)
    for (kk, nn) in [(k - 1, n), (k, n - 8)] {
      let status = caps_sgemm_packed(
        Int32(m), Int32(nn), Int32(kk), a, Int32(k), packed, nil, 0, &c, Int32(n), 0, Int32(nn), &scratch)
      #expect(status == -1, "\(kernel): K \(kk), N \(nn) accepted for weights packed as \(k) x \(n)")
    }
    packed[0] = 0  // damage the header's magic
    #expect(caps_sgemm_packed_kernel(packed) == -1)
    let status = caps_sgemm_packed(
      Int32(m), Int32(n), Int32(k), a, Int32(k), packed, nil, 0, &c, Int32(n), 0, Int32(n), &scratch)
    #expect(status == -1)
    #expect(c.allSatisfy { $0 == -7 }, "a refused call wrote to C")
  }

  // The whole forward pass with each kernel: KernelCrossCheckTests.matchesReferenceForward.

  @Test func networkRecordsTheKernelItWasPackedFor() throws {
    let model = try randomModel(oddConfiguration, seed: 5)
    for kernel in GEMMKernel.supported {
      #expect(CapsNetwork(model, kernel: kernel).kernel == kernel)
    }
    #expect(CapsNetwork(model).kernel == GEMMKernel.best)
  }

  /// The kernels the tests above run are every kernel this CPU can run, as the CPU itself reports
  /// (`/proc/cpuinfo` flags on Linux x86-64), not only what the dispatcher believes: a dispatcher
  /// that missed AVX2 would otherwise leave the AVX2 kernel untested.
  @Test func theTestedKernelsAreEveryKernelTheCPUReports() throws {
    #if os(Linux) && arch(x86_64)
      let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
      let line = try #require(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
      let flags = Set(line.split(separator: " ").map(String.init))
      var expected: [GEMMKernel] = [.portable]
      if flags.isSuperset(of: ["avx2", "fma"]) { expected.append(.avx2) }
      if flags.isSuperset(of: ["avx512f", "avx2", "fma"]) { expected.append(.avx512) }
      #expect(GEMMKernel.supported == expected, "CPU flags give \(expected)")
    #elseif arch(arm64)
      #expect(GEMMKernel.supported == [.portable])
    #else
      #expect(GEMMKernel.supported.contains(.portable))
    #endif
  }

  @Test func bestKernelIsSupportedAndPortableAlwaysIs() {
    #expect(GEMMKernel.best.isSupported)
    #expect(GEMMKernel.portable.isSupported)
    #expect(CapsNetwork.kernelName == GEMMKernel.best.rawValue)
    #expect(GEMMKernel.avx2.tile == (6, 16) && GEMMKernel.avx512.tile == (12, 32))
  }
}

/// Deterministic floats in [-1, 1).
private struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func nextFloat() -> Float {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Float(z >> 40) / Float(1 << 23) - 1
  }
}

extension GEMMKernel {
  fileprivate var id: Int32 {
    switch self {
    case .portable: Int32(CAPS_SGEMM_PORTABLE.rawValue)
    case .avx2: Int32(CAPS_SGEMM_AVX2.rawValue)
    case .avx512: Int32(CAPS_SGEMM_AVX512.rawValue)
    }
  }
}
