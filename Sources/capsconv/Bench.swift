import ArgumentParser
import CapsFormat
import CapsRuntime
import Foundation

extension CapsConv {
  /// `capsconv bench`: throughput and per-batch latency of the runtime on held-out digits.
  struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Measure inference throughput and per-batch latency on held-out digits.",
      discussion: """
        Loads the model once, plans once for the batch size, fills the batch with the reference \
        activations' held-out digits (tiled), warms up, then calls run() back to back for --seconds. \
        Nothing is allocated inside the timed loop. Latency is per batch; the median of an even \
        count is the mean of the two middle values, p90 is the nearest-rank 90th percentile. \
        The runtime's predictions for the digits are checked against the reference's first: \
        exit 2 if any differs, 1 on invalid input, 64 on bad usage.
        """)

    @Argument(help: "A CapsKit model file or a PyTorch-exported state_dict HDF5.")
    var model: String

    @Option(help: "Images per run() call (1...4096).")
    var batchSize = 64

    @Option(help: "Threads, 1...64 (default: one per processor, at most 16).")
    var threads: Int?

    @Option(help: "Seconds to measure after warm-up.")
    var seconds = 5.0

    @Option(
      help: """
        Reference activations whose held-out digits fill the batches (default: \
        ../activations/<model file name> next to the model, as in Fixtures/).
        """)
    var reference: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
      guard (1...InferencePlan.maximumBatch).contains(batchSize) else {
        throw ValidationError("--batch-size takes 1...\(InferencePlan.maximumBatch)")
      }
      try validateThreads(threads)
      guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds must be > 0") }
      // A missing model is reported by run() (exit 1); a missing default reference is bad usage.
      if reference == nil, FileManager.default.fileExists(atPath: model),
        !FileManager.default.fileExists(atPath: Self.defaultReference(for: model))
      {
        throw ValidationError(
          "no reference activations at \(Self.defaultReference(for: model)); pass --reference ACT.h5 "
            + "(written by Tools/make_activations.py)")
      }
    }

    /// `<dir>/../activations/<name>` for a model at `<dir>/<name>`: the layout of `Fixtures/`.
    static func defaultReference(for model: String) -> String {
      let url = URL(fileURLWithPath: model)
      return url.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("activations").appendingPathComponent(url.lastPathComponent)
        .standardizedFileURL.path
    }

    func run() throws {
      let referencePath = reference ?? Self.defaultReference(for: model)
      let (network, activations) = try reportingInvalidInput {
        let (loaded, _) = try ModelFile.read(at: model)
        return (CapsNetwork(loaded), try ReferenceActivations.read(at: referencePath))
      }
      let c = network.configuration
      let imageSize = c.inputChannels * c.inputSize * c.inputSize
      guard activations.pixels.values.count == activations.count * imageSize else {
        printError(
          "\(referencePath): pixels have shape \(activations.pixels.shape), the model takes "
            + "\(c.inputChannels)x\(c.inputSize)x\(c.inputSize) images")
        throw Exit.invalidInput
      }

      let plan: InferencePlan
      do {
        plan = try InferencePlan(network: network, maxBatch: batchSize, threads: threads)
      } catch {
        printError("\(model): \(error.description)")
        throw Exit.invalidInput
      }
      let session = InferenceSession(network: network, plan: plan)
      // The held-out digits, tiled over the batch.
      var pixels = [Float](repeating: 0, count: batchSize * imageSize)
      for image in 0..<batchSize {
        let source = (image % activations.count) * imageSize
        for p in 0..<imageSize { pixels[image * imageSize + p] = activations.pixels.values[source + p] }
      }

      let result = pixels.withUnsafeBufferPointer { input in
        measure(session: session, input: input, seconds: seconds)
      }
      let mismatches = (0..<min(batchSize, activations.count)).filter {
        session.prediction(at: $0) != activations.predictions[$0]
      }

      let report = Report(
        imagesPerSecond: Double(batchSize * result.runs) / result.elapsed,
        latencyMsMedian: result.median * 1e3, latencyMsP90: result.p90 * 1e3, batchSize: batchSize,
        threads: plan.threadCount, arenaBytes: plan.arenaByteCount, kernel: CapsNetwork.kernelName)
      if json {
        try printJSON(report)
      } else {
        print("model        \(model) (\(grouped(c.parameterCount)) parameters)")
        print("digits       \(activations.count) held-out digits from \(referencePath), tiled")
        print("kernel       \(report.kernel)")
        print("batch size   \(batchSize)")
        print("threads      \(report.threads)")
        print(
          "arena        \(grouped(report.arenaBytes)) bytes ("
            + String(format: "%.1f MiB", Double(report.arenaBytes) / 1_048_576) + ")")
        print(
          "runs         \(result.runs) in " + String(format: "%.2f s", result.elapsed)
            + " after \(result.warmupRuns) warm-up runs")
        print("throughput   " + String(format: "%.1f images/s", report.imagesPerSecond))
        print(
          "latency      "
            + String(format: "median %.3f ms, p90 %.3f ms", report.latencyMsMedian, report.latencyMsP90)
            + " per batch")
      }
      if !mismatches.isEmpty {
        printError(
          "predicted classes differ from \(referencePath) at images \(mismatches): the numbers above "
            + "measure a wrong result")
        throw Exit.mismatch
      }
    }
  }
}

/// What `bench --json` prints.
private struct Report: Encodable {
  var imagesPerSecond: Double
  var latencyMsMedian: Double
  var latencyMsP90: Double
  var batchSize: Int
  var threads: Int
  var arenaBytes: Int
  var kernel: String

  enum CodingKeys: String, CodingKey {
    case imagesPerSecond = "images_per_second"
    case latencyMsMedian = "latency_ms_median"
    case latencyMsP90 = "latency_ms_p90"
    case batchSize = "batch_size"
    case threads
    case arenaBytes = "arena_bytes"
    case kernel
  }
}

/// Timings of one measurement, in seconds.
private struct Measurement {
  var runs: Int
  var warmupRuns: Int
  var elapsed: Double
  var median: Double
  var p90: Double
}

/// Warms up, then runs `session` back to back for `seconds`, timing every run.
///
/// The latency buffer is sized from the warm-up before the timed loop starts, so the loop only
/// calls `run` and reads the monotonic clock; it ends early if the buffer fills (a run turned
/// out more than 4 times faster than in the warm-up).
private func measure(
  session: InferenceSession, input: UnsafeBufferPointer<Float>, seconds: Double
) -> Measurement {
  let batch = session.plan.maxBatch
  // Warm-up: at least 3 runs and at least 10% of the measuring time (at most 2 s): page in the
  // weights and the arena, wake the worker threads, let the clock settle.
  let warmupSeconds = min(2, seconds / 10)
  var warmupRuns = 0
  var fastest = Double.infinity
  let warmupStart = now()
  while warmupRuns < 3 || now() - warmupStart < warmupSeconds {
    let start = now()
    session.run(batch: batch, pixels: input)
    fastest = min(fastest, now() - start)
    warmupRuns += 1
  }

  let capacity = Int(min(10_000_000, (seconds / max(fastest, 1e-7)) * 4)) + 16
  var latencies = [Double](repeating: 0, count: capacity)
  var runs = 0
  var elapsed = 0.0
  latencies.withUnsafeMutableBufferPointer { buffer in
    let loopStart = now()
    var last = loopStart
    while runs < capacity {
      session.run(batch: batch, pixels: input)
      let time = now()
      buffer[runs] = time - last
      runs += 1
      last = time
      if time - loopStart >= seconds { break }
    }
    elapsed = last - loopStart
  }

  let sorted = latencies[0..<runs].sorted()
  let median =
    runs % 2 == 1 ? sorted[runs / 2] : (sorted[runs / 2 - 1] + sorted[runs / 2]) / 2
  let p90 = sorted[max(0, Int((0.9 * Double(runs)).rounded(.up)) - 1)]
  return Measurement(runs: runs, warmupRuns: warmupRuns, elapsed: elapsed, median: median, p90: p90)
}

/// Monotonic time in seconds.
private func now() -> Double {
  Double(DispatchTime.now().uptimeNanoseconds) * 1e-9
}
