import CCapsKernels
import CapsFormat
import CapsRuntime
import CapsTestSupport
import Testing

/// int8 inference: every int8 GEMM kernel this CPU runs, forced per test, against exact integer
/// sums computed here; and int8 sessions against PyTorch's fp32 predictions.
@Suite struct Int8Tests {
  static let shapes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (5, 17, 9), (13, 33, 300), (37, 64, 2100), (4, 256, 81), (7, 100, 1030),
  ]

  @Test(arguments: Int8GEMMKernel.supported)
  func gemmMatchesIntegerReference(kernel: Int8GEMMKernel) {
    var random = SeededGenerator(seed: 5)
    for (index, shape) in Self.shapes.enumerated() {
      let (m, n, k) = shape
      // The saturation edge (every pair 2 * 255 * 63) in the first shapes, random values after.
      let edge = index < 2
      let a: [UInt8] = (0..<(m * k)).map { _ in edge ? 255 : UInt8.random(in: 0...255, using: &random) }
      let b: [Int8] = (0..<(k * n)).map { p in
        edge ? (p % 3 == 0 ? -63 : 63) : Int8.random(in: -63...63, using: &random)
      }
      let rowScale = random.floats(m, in: 0.001...1)
      let columnScale = random.floats(n, in: 0.001...1)
      let bias = random.floats(n, in: -50...50)
      let relu = index % 2 == 1
      var packed = [UInt8](
        repeating: 0, count: caps_i8gemm_packed_b_bytes_for(kernel.cID, Int32(k), Int32(n)))
      #expect(caps_i8gemm_pack_b_for(kernel.cID, Int32(k), Int32(n), b, Int32(n), &packed) == 0)
      #expect(caps_i8gemm_packed_kernel(packed) == kernel.cID)
      var scratch = [UInt8](repeating: 0, count: caps_i8gemm_scratch_bytes(Int32(m), Int32(k)))
      var c = [Float](repeating: .nan, count: m * n)
      let align = Int(caps_sgemm_n_align())
      let cut = min(n, (n / 2 + align - 1) / align * align)
      for range in [cut..<n, 0..<cut] where !range.isEmpty {
        let status = caps_i8gemm_packed(
          Int32(m), Int32(n), Int32(k), a, Int32(k), packed, rowScale, columnScale, bias, relu ? 1 : 0, &c,
          Int32(n), Int32(range.lowerBound), Int32(range.upperBound), &scratch)
        #expect(status == 0)
      }
      var worst = 0.0
      for i in 0..<m {
        for j in 0..<n {
          var sum = 0
          var magnitude = 0
          for p in 0..<k {
            let product = Int(a[i * k + p]) * Int(b[p * n + j])
            sum += product
            magnitude += abs(product)
          }
          let scale = Double(rowScale[i]) * Double(columnScale[j])
          var expected = Double(sum) * scale + Double(bias[j])
          if relu { expected = max(0, expected) }
          let error =
            abs(Double(c[i * n + j]) - expected) / (Double(magnitude) * scale + abs(Double(bias[j])) + 1e-30)
          worst = max(worst, error)
        }
      }
      #expect(worst < 1e-6, "\(kernel) \(m)x\(n)x\(k): relative error \(worst)")
    }
  }

  @Test(arguments: Int8GEMMKernel.supported)
  func refusesWeightsBeyondSevenBits(kernel: Int8GEMMKernel) {
    var packed = [UInt8](repeating: 0, count: caps_i8gemm_packed_b_bytes_for(kernel.cID, 2, 2))
    #expect(caps_i8gemm_pack_b_for(kernel.cID, 2, 2, [1, 2, 64, 0] as [Int8], 2, &packed) == -2)
    #expect(caps_i8gemm_pack_b_for(kernel.cID, 2, 2, [1, 2, -63, 0] as [Int8], 2, &packed) == 0)
  }

  /// The standard model in int8, with each int8 kernel: the reference's (PyTorch fp32) predicted
  /// classes and capsule lengths within 0.01 (fp32 matches them to 1e-5; int8 is ~2e-3 off).
  @Test(arguments: Int8GEMMKernel.supported)
  func standardModelAgreesWithPyTorch(kernel: Int8GEMMKernel) throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/standard.h5"))
    let reference = try ReferenceActivations.read(at: Fixtures.path("activations/standard.h5"))
    let network = CapsNetwork(model, int8Kernel: kernel)
    #expect(network.int8Kernel == kernel)
    let count = kernel == .portable ? 2 : 6  // the portable kernel is slow in debug builds
    let plan = try InferencePlan(network: network, maxBatch: count, threads: 2, precision: .int8)
    let session = InferenceSession(network: network, plan: plan)
    reference.pixels.values.withUnsafeBufferPointer { session.run(batch: count, pixels: $0) }
    let lengths = reference.stages["lengths"]!.values
    for image in 0..<count {
      #expect(session.prediction(at: image) == reference.predictions[image], "image \(image)")
      for capsule in 0..<10 {
        let error = abs(session.length(at: image, capsule: capsule) - lengths[image * 10 + capsule])
        #expect(error < 0.01, "image \(image) capsule \(capsule): \(error)")
      }
    }
  }

  /// A batch smaller than the thread count (threads split the convolution columns, the input
  /// capsules of u_hat and the output capsules of the routing) gives each image the result it gets
  /// alone on one thread, in both precisions; fp32 stays within 1e-5 of PyTorch's lengths.
  @Test(arguments: Precision.allCases)
  func smallBatchSplitAcrossThreadsMatchesOneThread(precision: Precision) throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/standard.h5"))
    let reference = try ReferenceActivations.read(at: Fixtures.path("activations/standard.h5"))
    let network = CapsNetwork(model)
    let alone = InferenceSession(
      network: network,
      plan: try InferencePlan(network: network, maxBatch: 1, threads: 1, precision: precision))
    let split = InferenceSession(
      network: network,
      plan: try InferencePlan(network: network, maxBatch: 2, threads: 3, precision: precision))
    let lengths = reference.stages["lengths"]!.values
    try reference.pixels.values.withUnsafeBufferPointer { pixels in
      split.run(batch: 2, pixels: pixels)
      for image in 0..<2 {
        alone.run(batch: 1, pixels: UnsafeBufferPointer(rebasing: pixels[(image * 784)...]))
        #expect(alone.prediction(at: 0) == split.prediction(at: image))
        for capsule in 0..<10 {
          let one = alone.length(at: 0, capsule: capsule)
          #expect(abs(one - split.length(at: image, capsule: capsule)) <= 1e-6 * max(1, abs(one)))
          if precision == .fp32 {
            let expected = lengths[image * 10 + capsule]
            try #require(
              abs(one - expected) <= 1e-5 + 1e-5 * abs(expected), "image \(image) capsule \(capsule)")
          }
        }
      }
    }
  }
}

extension Int8GEMMKernel {
  fileprivate var cID: Int32 {
    switch self {
    case .portable: Int32(CAPS_I8GEMM_PORTABLE.rawValue)
    case .avx2: Int32(CAPS_I8GEMM_AVX2.rawValue)
    }
  }
}
