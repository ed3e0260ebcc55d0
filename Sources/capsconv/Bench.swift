import ArgumentParser
import CapsFormat
import CapsRuntime
import Foundation

extension CapsConv {
  /// `capsconv bench`: throughput and per-batch latency of the runtime on any model.
  struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Measure inference throughput and per-batch latency of a model.",
      discussion: """
        Loads the model once, plans once for the batch size, fills the batch (tiled) with: the \
        reference activations' digits with --reference; else, for a model taking 28x28 grayscale \
        images, 16 held-out MNIST digits built into capsconv (test indices 8000..8015, never \
        trained on); else deterministic synthetic pixels. Then it warms up and calls run() back \
        to back for --seconds. Nothing is allocated inside the timed loop. Latency is per batch; \
        the median of an even count is the mean of the two middle values, p90 is the nearest-rank \
        90th percentile. conv2 GFLOP/s is conv2's FLOPs per image times the images per second \
        (the rate at which the whole run gets through conv2's work; compare it with the FMA peak \
        times the threads). With --reference the predictions are checked against the \
        reference's: exit 2 if any differs. Exit 1 on invalid input, 64 on bad usage.
        """)

    @Argument(
      help: "A CapsKit model file, or a checkpoint (.pth, HDF5 state_dict, Keras HDF5) converted in memory.")
    var model: String

    @Option(help: "Images per run() call (1...4096).")
    var batchSize = 64

    @Option(help: "Threads, 1...64 (default: one per processor, at most 16).")
    var threads: Int?

    @Option(help: "Seconds to measure after warm-up.")
    var seconds = 5.0

    @Option(
      help: """
        Reference activations (written by Tools/fixtures/make_activations.py) whose digits fill the \
        batches and whose predictions the runtime's must equal (optional).
        """)
    var reference: String?

    @Option(
      help: """
        Arithmetic of the convolutions: fp32, or int8 (weights quantized per output channel at \
        load, activations per image; routing in fp32).
        """)
    var precision = "fp32"

    @Option(
      help: """
        The primary convolution: auto (Winograd in fp32 where the kernel allows, else direct), \
        direct (im2col + GEMM) or winograd.
        """)
    var convolution = "auto"

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
      guard Precision(rawValue: precision) != nil else {
        throw ValidationError("--precision takes fp32 or int8")
      }
      guard (1...InferencePlan.maximumBatch).contains(batchSize) else {
        throw ValidationError("--batch-size takes 1...\(InferencePlan.maximumBatch)")
      }
      try validateThreads(threads)
      try validateConvolution(convolution, precision: precision)
      guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds must be > 0") }
    }

    func run() throws {
      let (network, activations) = try reportingInvalidInput {
        let (loaded, _) = try ModelFile.read(at: model)
        return (CapsNetwork(loaded), try reference.map { try ReferenceActivations.read(at: $0) })
      }
      let c = network.configuration
      let imageSize = c.inputChannels * c.inputSize * c.inputSize
      let input: BenchInput
      if let activations, let reference {
        guard activations.pixels.values.count == activations.count * imageSize else {
          printError(
            "\(reference): pixels have shape \(activations.pixels.shape), the model takes "
              + "\(c.inputChannels)x\(c.inputSize)x\(c.inputSize) images")
          throw Exit.invalidInput
        }
        input = BenchInput(
          kind: "reference", description: "\(activations.count) digits from \(reference)",
          images: activations.pixels.values, count: activations.count, expected: activations.predictions)
      } else if c.inputChannels == 1, c.inputSize == BenchDigits.side {
        input = BenchInput.builtInDigits()
      } else {
        input = BenchInput.synthetic(imageSize: imageSize)
      }

      let algorithm = try resolvedConvolution(convolution, network: network, model: model)
      let plan: InferencePlan
      do {
        plan = try InferencePlan(
          network: network, maxBatch: batchSize, threads: threads,
          precision: Precision(rawValue: precision) ?? .fp32, convolution: algorithm)
      } catch {
        printError("\(model): \(error.description)")
        throw Exit.invalidInput
      }
      let session = InferenceSession(network: network, plan: plan)
      let pixels = input.tiled(over: batchSize, imageSize: imageSize)
      let result = pixels.withUnsafeBufferPointer { input in
        measure(session: session, input: input, seconds: seconds)
      }
      let checked = min(batchSize, input.count)
      let predictions = (0..<checked).map { session.prediction(at: $0) }

      let imagesPerSecond = Double(batchSize * result.runs) / result.elapsed
      let conv2Flops =
        c.flopsPerImage(routingIterations: network.metadata.routingIterations)
        .first { $0.stage == "primary conv" }?.flops ?? 0
      let report = Report(
        imagesPerSecond: imagesPerSecond, latencyMsMedian: result.median * 1e3,
        latencyMsP90: result.p90 * 1e3, batchSize: batchSize, threads: plan.threadCount,
        arenaBytes: plan.arenaByteCount,
        kernel: plan.precision == .int8 ? network.int8Kernel.rawValue : network.kernel.rawValue,
        precision: precision, convolution: plan.convolution.rawValue,
        conv2Gflops: Double(conv2Flops) * imagesPerSecond / 1e9, input: input.kind)
      if json {
        try printJSON(report)
      } else {
        print("model        \(model) (\(grouped(c.parameterCount)) parameters)")
        print("input        \(input.description), tiled")
        print(
          "kernel       \(report.kernel) (\(report.precision), \(report.convolution) primary convolution)")
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
        print(
          "conv2        "
            + String(
              format: "%.1f MFLOP per image, %.1f GFLOP/s", Double(conv2Flops) / 1e6, report.conv2Gflops))
        if input.kind == "digits" {
          let correct = (0..<checked).filter { predictions[$0] == BenchDigits.labels[$0] }.count
          print("labels       \(correct) of \(checked) digits classified as their true label (not checked)")
        }
      }
      if let expected = input.expected {
        let mismatches = (0..<checked).filter { predictions[$0] != expected[$0] }
        if !mismatches.isEmpty {
          printError(
            "predicted classes differ from \(reference ?? "") at images \(mismatches): the numbers "
              + "above measure a wrong result")
          throw Exit.mismatch
        }
      }
    }
  }
}

/// The images `bench` tiles over its batches.
private struct BenchInput {
  /// "reference", "digits" or "synthetic" (the JSON's `input`).
  var kind: String
  var description: String
  /// `count` images, 0...255.
  var images: [Float]
  var count: Int
  /// Predictions the runtime must reproduce (reference activations only).
  var expected: [Int]?

  /// The held-out MNIST digits compiled into capsconv.
  static func builtInDigits() -> BenchInput {
    guard
      let data = Data(base64Encoded: BenchDigits.pixelsBase64, options: .ignoreUnknownCharacters),
      data.count == BenchDigits.count * BenchDigits.side * BenchDigits.side
    else { preconditionFailure("BenchDigits.pixelsBase64 does not hold \(BenchDigits.count) digits") }
    return BenchInput(
      kind: "digits",
      description:
        "\(BenchDigits.count) built-in held-out MNIST digits (test indices "
        + "\(BenchDigits.indices.lowerBound)..<\(BenchDigits.indices.upperBound))",
      images: data.map { Float($0) }, count: BenchDigits.count, expected: nil)
  }

  /// 16 images of deterministic pseudo-random pixels 0...255 (xorshift64*, fixed seed).
  static func synthetic(imageSize: Int) -> BenchInput {
    let count = 16
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var images = [Float](repeating: 0, count: count * imageSize)
    for index in images.indices {
      state ^= state >> 12
      state ^= state << 25
      state ^= state >> 27
      images[index] = Float((state &* 0x2545_F491_4F6C_DD1D) >> 56)
    }
    return BenchInput(
      kind: "synthetic", description: "\(count) synthetic images (seeded pseudo-random pixels)",
      images: images, count: count, expected: nil)
  }

  /// `batch` images: these, repeated.
  func tiled(over batch: Int, imageSize: Int) -> [Float] {
    var pixels = [Float](repeating: 0, count: batch * imageSize)
    for image in 0..<batch {
      let source = (image % count) * imageSize
      for p in 0..<imageSize { pixels[image * imageSize + p] = images[source + p] }
    }
    return pixels
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
  var precision: String
  /// The primary convolution's algorithm: direct or winograd.
  var convolution: String
  /// conv2's direct-convolution FLOPs per image times images/s (Winograd does fewer: the rate
  /// of the direct arithmetic it replaces).
  var conv2Gflops: Double
  var input: String

  enum CodingKeys: String, CodingKey {
    case imagesPerSecond = "images_per_second"
    case latencyMsMedian = "latency_ms_median"
    case latencyMsP90 = "latency_ms_p90"
    case batchSize = "batch_size"
    case threads
    case arenaBytes = "arena_bytes"
    case kernel
    case precision
    case convolution
    case conv2Gflops = "conv2_gflops"
    case input
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
