import Benchmark
import CapsFormat
import CapsRuntime
import Foundation

/// Whole-network `InferenceSession.run` on the committed fixtures, at batch 1 (latency) and 64
/// (throughput), for the standard and the small model. One iteration is one `run` call on a batch
/// of held-out digits; everything is loaded, packed and planned in `setup`, outside the
/// measurement. The committed thresholds hold `mallocCountTotal` at 0 per iteration.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .mallocCountTotal, .freeCountTotal],
    timeUnits: .microseconds,
    warmupIterations: 3,
    maxDuration: .seconds(3),
    maxIterations: 200,
    thresholds: zeroAllocationThresholds)

  for model in ["standard", "small"] {
    for batch in [1, 64] {
      Benchmark(
        "\(model)_run_batch\(batch)",
        configuration: .init(maxIterations: batch == 1 ? 200 : 20)
      ) { benchmark, fixture in
        fixture.pixels.withUnsafeBufferPointer { pixels in
          for _ in benchmark.scaledIterations {
            fixture.session.run(batch: fixture.batch, pixels: pixels)
          }
        }
        blackHole(fixture.session.prediction(at: 0))
      } setup: {
        try InferenceFixture(model: model, batch: batch)
      }
    }
  }

  // Names contain no spaces so that the committed threshold files are found (see GEMM.swift).
  // Control: proves the interposer counts in this process. Its committed threshold is 1 per
  // iteration; a 0 here would mean the zeros above prove nothing.
  Benchmark("control_one_malloc_per_iteration") { benchmark in
    for _ in benchmark.scaledIterations {
      let pointer = malloc(64)
      blackHole(pointer)
      free(pointer)
    }
  }
}

/// `mallocCountTotal` must stay at 0: a p90 above the committed threshold (0) by even one
/// allocation is a regression. Other percentiles apply to baseline comparisons.
var zeroAllocationThresholds: [BenchmarkMetric: BenchmarkThresholds] {
  [.mallocCountTotal: .init(absolute: [.p0: 0, .p25: 0, .p50: 0, .p75: 0, .p90: 0, .p99: 0, .p100: 0])]
}

/// A loaded network, a session planned for one batch size, and that batch of held-out digits.
final class InferenceFixture {
  let session: InferenceSession
  let batch: Int
  let pixels: [Float]

  init(model name: String, batch: Int) throws {
    let (model, _) = try ModelFile.read(at: fixturePath("models/\(name).h5"))
    let activations = try ReferenceActivations.read(at: fixturePath("activations/\(name).h5"))
    let network = CapsNetwork(model)
    session = InferenceSession(network: network, maxBatch: batch)
    self.batch = batch
    let imageSize = activations.pixels.values.count / activations.count
    pixels = (0..<batch * imageSize).map { index in
      activations.pixels.values[(index / imageSize % activations.count) * imageSize + index % imageSize]
    }
  }
}

/// `Fixtures/<relative>` of the repository this package sits in (`$CAPSKIT_FIXTURES` overrides).
func fixturePath(_ relative: String) -> String {
  if let folder = ProcessInfo.processInfo.environment["CAPSKIT_FIXTURES"] {
    return URL(fileURLWithPath: folder).appendingPathComponent(relative).path
  }
  // This file is <root>/Tools/Benchmarks/Benchmarks/Inference/Inference.swift.
  var root = URL(fileURLWithPath: #filePath)
  for _ in 0..<5 { root.deleteLastPathComponent() }
  return root.appendingPathComponent("Fixtures").appendingPathComponent(relative).path
}
