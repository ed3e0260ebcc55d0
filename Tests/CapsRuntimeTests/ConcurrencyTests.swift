import CapsFormat
import CapsRuntime
import CapsTestSupport
import Foundation
import Testing

/// One network shared by several sessions on several threads gives the same results as one session.
@Suite struct ConcurrencyTests {
  @Test func sessionsOnManyThreadsShareOneNetwork() throws {
    let model = try randomModel(mediumConfiguration, seed: 9)
    let network = CapsNetwork(model)
    let batch = 5
    let pixels = randomPixels(mediumConfiguration, count: batch, seed: 3)
    let single = try InferenceSession(network: network, maxBatch: batch)
    pixels.withUnsafeBufferPointer { single.run(batch: batch, pixels: $0) }
    let expected = single.withLengths { Array($0) }

    let threads = 4
    let results = ResultBox(count: threads)
    let plans = try (0..<threads).map {
      try InferencePlan(network: network, maxBatch: batch, threads: 1 + $0 % 2)
    }
    DispatchQueue.concurrentPerform(iterations: threads) { index in
      let session = InferenceSession(network: network, plan: plans[index])
      var lengths: [Float] = []
      for _ in 0..<3 {
        pixels.withUnsafeBufferPointer { session.run(batch: batch, pixels: $0) }
        lengths = session.withLengths { Array($0) }
      }
      results.set(index, lengths)
    }
    for index in 0..<threads {
      let lengths = results.get(index)
      #expect(lengths.count == expected.count)
      let error = zip(lengths, expected).map { abs($0 - $1) }.max() ?? .infinity
      #expect(error <= 1e-6, "thread \(index): \(error)")
    }
  }

  /// The primary convolution's forms are made on first use: sessions of every form created at the
  /// same time on a fresh network each get a whole one (made once) and the results of a network
  /// that made it alone, first.
  @Test func formsMadeOnFirstUseFromManyThreadsAreTheSameAsAlone() throws {
    let model = try randomModel(ninesConfiguration, seed: 21)
    let batch = 3
    let pixels = randomPixels(ninesConfiguration, count: batch, seed: 4)
    let forms: [(Precision, ConvolutionAlgorithm)] = [(.fp32, .direct), (.fp32, .winograd), (.int8, .direct)]
    var expected: [[Float]] = []
    for (precision, convolution) in forms {
      let alone = CapsNetwork(model)
      let session = InferenceSession(
        network: alone,
        plan: try InferencePlan(
          network: alone, maxBatch: batch, threads: 1, precision: precision, convolution: convolution))
      pixels.withUnsafeBufferPointer { session.run(batch: batch, pixels: $0) }
      expected.append(session.withLengths { Array($0) })
    }
    let network = CapsNetwork(model)
    let threads = 12
    let plans = try (0..<threads).map {
      try InferencePlan(
        network: network, maxBatch: batch, threads: 1, precision: forms[$0 % 3].0,
        convolution: forms[$0 % 3].1)
    }
    let results = ResultBox(count: threads)
    DispatchQueue.concurrentPerform(iterations: threads) { index in
      let session = InferenceSession(network: network, plan: plans[index])
      pixels.withUnsafeBufferPointer { session.run(batch: batch, pixels: $0) }
      results.set(index, session.withLengths { Array($0) })
    }
    for index in 0..<threads {
      #expect(results.get(index) == expected[index % 3], "thread \(index), \(forms[index % 3])")
    }
    // The three forms differ (or the comparison above could not tell them apart).
    #expect(expected[0] != expected[1] && expected[0] != expected[2])
  }
}

/// Results written by concurrent workers, each to its own slot, under a lock.
final class ResultBox: @unchecked Sendable {
  private let lock = NSLock()
  private var values: [[Float]]

  init(count: Int) { values = Array(repeating: [], count: count) }

  func set(_ index: Int, _ value: [Float]) {
    lock.lock()
    values[index] = value
    lock.unlock()
  }

  func get(_ index: Int) -> [Float] {
    lock.lock()
    defer { lock.unlock() }
    return values[index]
  }
}
