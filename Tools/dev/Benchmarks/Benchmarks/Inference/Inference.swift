import Benchmark
import CapsFormat
import CapsRuntime
import Foundation

/// Whole-network `InferenceSession.run` on the committed fixtures, at batch 1 (latency) and 64
/// (throughput), for the standard and the small model, fp32 (Winograd primary convolution, and
/// direct for the standard model) and int8. One iteration is one `run` call on a batch
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

  // fp32 under the original names; int8 (Precision.int8 plans) with an _int8 suffix.
  for (model, batch, precision) in ["standard", "small"].flatMap({ model in
    [1, 64].flatMap { batch in Precision.allCases.map { (model, batch, $0) } }
  }) {
    Benchmark(
      "\(model)_run_batch\(batch)" + (precision == .fp32 ? "" : "_\(precision.rawValue)"),
      configuration: .init(maxIterations: batch == 1 ? 200 : 20)
    ) { benchmark, fixture in
      fixture.pixels.withUnsafeBufferPointer { pixels in
        for _ in benchmark.scaledIterations {
          fixture.session.run(batch: fixture.batch, pixels: pixels)
        }
      }
      blackHole(fixture.session.prediction(at: 0))
    } setup: {
      try InferenceFixture(model: model, batch: batch, precision: precision)
    }
  }

  // fp32 with the primary convolution forced direct (the default above is Winograd).
  for batch in [1, 64] {
    Benchmark("standard_run_batch\(batch)_direct", configuration: .init(maxIterations: batch == 1 ? 200 : 20))
    {
      benchmark, fixture in
      fixture.pixels.withUnsafeBufferPointer { pixels in
        for _ in benchmark.scaledIterations {
          fixture.session.run(batch: fixture.batch, pixels: pixels)
        }
      }
      blackHole(fixture.session.prediction(at: 0))
    } setup: {
      try InferenceFixture(model: "standard", batch: batch, convolution: .direct)
    }
  }

  // The decoder paths behind capsinfer --reconstruct and --perturb (issue 19): a run that also
  // reconstructs, and one perturbation sheet (16 dimensions x 11 offsets = 176 decoder inputs,
  // decoded 64 at a time by `decode(capsules:count:into:)`).
  Benchmark("standard_run_batch1_reconstruct", configuration: .init(maxIterations: 200)) {
    benchmark, fixture in
    fixture.pixels.withUnsafeBufferPointer { pixels in
      for _ in benchmark.scaledIterations {
        fixture.session.run(batch: fixture.batch, pixels: pixels, reconstruct: true)
      }
    }
    blackHole(fixture.session.prediction(at: 0))
  } setup: {
    try InferenceFixture(model: "standard", batch: 1)
  }

  Benchmark("standard_perturbation_sheet_decode", configuration: .init(maxIterations: 50)) {
    benchmark, sheet in
    for _ in benchmark.scaledIterations { sheet.decodeAll() }
    blackHole(sheet.outputs[0])
  } setup: {
    try PerturbationFixture()
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

  init(model name: String, batch: Int, precision: Precision = .fp32, convolution: ConvolutionAlgorithm? = nil)
    throws
  {
    let (model, _) = try ModelFile.read(at: fixturePath("models/\(name).h5"))
    let activations = try ReferenceActivations.read(at: fixturePath("activations/\(name).h5"))
    let network = CapsNetwork(model)
    session = InferenceSession(
      network: network,
      plan: try InferencePlan(
        network: network, maxBatch: batch, precision: precision, convolution: convolution))
    self.batch = batch
    let imageSize = activations.pixels.values.count / activations.count
    pixels = (0..<batch * imageSize).map { index in
      activations.pixels.values[(index / imageSize % activations.count) * imageSize + index % imageSize]
    }
  }
}

/// The 176 decoder inputs of one perturbation sheet (the masked capsule of a held-out digit with one
/// of 16 dimensions offset by one of 11 values), decoded in chunks of the session's batch limit.
final class PerturbationFixture {
  let session: InferenceSession
  let inputs: [Float]
  var outputs: [Float]
  let chunk = 64
  let capsuleWidth: Int
  let area: Int
  let count: Int

  init() throws {
    let fixture = try InferenceFixture(model: "standard", batch: 64)
    let session = fixture.session
    self.session = session
    let c = session.network.configuration
    let capsuleWidth = c.outputCapsules * c.outputDimension
    self.capsuleWidth = capsuleWidth
    area = c.inputSize * c.inputSize
    fixture.pixels.withUnsafeBufferPointer { session.run(batch: 1, pixels: $0, reconstruct: true) }
    var masked = [Float](repeating: 0, count: capsuleWidth)
    masked.withUnsafeMutableBufferPointer { session.maskedCapsules(image: 0, into: $0) }
    let first = session.prediction(at: 0) * c.outputDimension
    var inputs: [Float] = []
    for dimension in 0..<c.outputDimension {
      for step in -5...5 {
        var vector = masked
        vector[first + dimension] += Float(step) * 0.05
        inputs += vector
      }
    }
    self.inputs = inputs
    count = inputs.count / capsuleWidth
    outputs = [Float](repeating: 0, count: count * area)
  }

  func decodeAll() {
    var start = 0
    inputs.withUnsafeBufferPointer { inputs in
      outputs.withUnsafeMutableBufferPointer { outputs in
        while start < count {
          let n = min(chunk, count - start)
          session.decode(
            capsules: UnsafeBufferPointer(rebasing: inputs[(start * capsuleWidth)...]), count: n,
            into: UnsafeMutableBufferPointer(rebasing: outputs[(start * area)...]))
          start += n
        }
      }
    }
  }
}

/// `Fixtures/<relative>` of the repository this package sits in (`$CAPSKIT_FIXTURES` overrides).
func fixturePath(_ relative: String) -> String {
  if let folder = ProcessInfo.processInfo.environment["CAPSKIT_FIXTURES"] {
    return URL(fileURLWithPath: folder).appendingPathComponent(relative).path
  }
  // This file is <root>/Tools/dev/Benchmarks/Benchmarks/Inference/Inference.swift.
  var root = URL(fileURLWithPath: #filePath)
  for _ in 0..<6 { root.deleteLastPathComponent() }
  return root.appendingPathComponent("Fixtures").appendingPathComponent(relative).path
}
