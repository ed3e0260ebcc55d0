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
