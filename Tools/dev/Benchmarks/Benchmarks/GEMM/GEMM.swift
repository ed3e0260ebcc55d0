import Benchmark
import CCapsKernels
import Foundation

/// The runtime's hot GEMM shapes, one thread, through the same entry point the runtime calls
/// (`caps_sgemm_packed` with B packed once):
///
/// - conv2 (primary capsules) of a 4-image group, the whole-image path at batch >= threads:
///   M = 4 x 6 x 6 = 144, N = 256, K = 9 x 9 x 256 = 20736 (96% of the model's FLOPs).
/// - conv2 of one image, half the columns: what each of 2 threads computes at batch 1:
///   M = 36, N = 128 of 256, K = 20736.
/// - conv1 of a 4-image group: M = 4 x 20 x 20 = 1600, N = 256, K = 81.
///
/// Besides wall clock, each iteration reports its own speed as the custom metric `GFLOP/s`
/// (2 x M x N x K per call). `mallocCountTotal` must stay at 0.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .mallocCountTotal, gigaflops],
    timeUnits: .microseconds,
    warmupIterations: 3,
    maxDuration: .seconds(2),
    maxIterations: 200,
    thresholds: [
      .mallocCountTotal: .init(absolute: [.p0: 0, .p25: 0, .p50: 0, .p75: 0, .p90: 0, .p99: 0, .p100: 0])
    ])

  let shapes = [
    GEMMShape(name: "conv2_group4", m: 144, n: 256, k: 20736, columns: 0..<256),
    GEMMShape(name: "conv2_batch1_half", m: 36, n: 256, k: 20736, columns: 0..<128),
    GEMMShape(name: "conv1_group4", m: 1600, n: 256, k: 81, columns: 0..<256),
  ]
  for shape in shapes {
    // Names contain no spaces: benchmark 1.38.1 writes threshold files with spaces turned into
    // underscores but looks them up by the raw name. The kernel (avx512, avx2, portable) is the
    // one the CPU gets, as `capsconv bench` reports; it is not in the name, so the committed
    // thresholds apply on every CPU (a tag would be appended to the name).
    Benchmark("sgemm_\(shape.name)_M\(shape.m)_N\(shape.columns.count)_K\(shape.k)") { benchmark, gemm in
      let start = DispatchTime.now().uptimeNanoseconds
      for _ in benchmark.scaledIterations { gemm.run() }
      let nanoseconds = DispatchTime.now().uptimeNanoseconds - start
      benchmark.measurement(gigaflops, Int((gemm.flops / Double(max(nanoseconds, 1))).rounded()))
    } setup: {
      PackedGEMM(shape)
    }
  }
}

let gigaflops = BenchmarkMetric.custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)

struct GEMMShape {
  var name: String
  var m: Int
  var n: Int
  var k: Int
  /// The columns one call computes (the runtime splits N across threads for small batches).
  var columns: Range<Int>
}

/// A, B packed for the kernel, C and the panel scratch, all allocated in setup.
final class PackedGEMM {
  let shape: GEMMShape
  let a: UnsafeMutableBufferPointer<Float>
  let packedB: UnsafeMutableBufferPointer<Float>
  let bias: UnsafeMutableBufferPointer<Float>
  let c: UnsafeMutableBufferPointer<Float>
  let scratch: UnsafeMutableBufferPointer<Float>

  var flops: Double { 2 * Double(shape.m) * Double(shape.columns.count) * Double(shape.k) }

  init(_ shape: GEMMShape) {
    self.shape = shape
    var state: UInt32 = 12345
    func next() -> Float {  // a small LCG: reproducible values in -1...1
      state = state &* 1_664_525 &+ 1_013_904_223
      return Float(state >> 8) / Float(1 << 23) - 1
    }
    a = .allocate(capacity: shape.m * shape.k)
    for index in a.indices { a[index] = next() }
    let b = (0..<shape.k * shape.n).map { _ in next() }
    packedB = .allocate(capacity: caps_sgemm_packed_b_count(Int32(shape.k), Int32(shape.n)))
    caps_sgemm_pack_b(Int32(shape.k), Int32(shape.n), b, Int32(shape.n), packedB.baseAddress)
    bias = .allocate(capacity: shape.n)
    bias.initialize(repeating: 0.5)
    c = .allocate(capacity: shape.m * shape.n)
    c.initialize(repeating: 0)
    scratch = .allocate(capacity: caps_sgemm_scratch_count(Int32(shape.m), Int32(shape.k)))
    scratch.initialize(repeating: 0)
  }

  func run() {
    caps_sgemm_packed(
      Int32(shape.m), Int32(shape.n), Int32(shape.k), a.baseAddress, Int32(shape.k), packedB.baseAddress,
      bias.baseAddress, 0, c.baseAddress, Int32(shape.n), Int32(shape.columns.lowerBound),
      Int32(shape.columns.upperBound), scratch.baseAddress)
  }

  deinit {
    for buffer in [a, packedB, bias, c, scratch] { buffer.deallocate() }
  }
}
