import CapsFormat
import CapsTestSupport
import Foundation
import Testing

@testable import CapsRuntime

/// The session's public surface: the safe `[Float]` entry point, a caller-owned worker pool shared
/// by sessions, and preconditions on every index (exit tests: each body must stop the process).
@Suite struct SessionAPITests {
  /// `run(pixels:)` with an array (read in place) and with a collection without contiguous storage
  /// (copied into the arena) gives bit for bit what the unsafe-pointer entry point gives.
  @Test func theSafeEntryPointMatchesTheUnsafeOne() throws {
    let network = CapsNetwork(try randomModel(mediumConfiguration, seed: 21))
    let batch = 3
    let pixels = randomPixels(mediumConfiguration, count: batch, seed: 8)
    let session = try InferenceSession(network: network, maxBatch: 4)
    pixels.withUnsafeBufferPointer { session.run(batch: batch, pixels: $0, reconstruct: true) }
    let lengths = session.withLengths { $0.map(\.bitPattern) }
    let reconstructions = session.withReconstructions { $0.map(\.bitPattern) }
    #expect(lengths.count == batch * mediumConfiguration.outputCapsules)

    let other = try InferenceSession(network: network, maxBatch: 4)
    for (name, run) in [
      ("array", { other.run(pixels: pixels, reconstruct: true) }),
      ("lazy collection", { other.run(pixels: pixels.lazy.map { $0 }, reconstruct: true) }),
    ] as [(String, () -> Void)] {
      other.run(pixels: randomPixels(mediumConfiguration, count: 4, seed: 99))  // different arena contents
      run()
      #expect(other.lastBatch == batch, "\(name)")
      #expect(other.withLengths { $0.map(\.bitPattern) } == lengths, "\(name)")
      #expect(other.withReconstructions { $0.map(\.bitPattern) } == reconstructions, "\(name)")
      #expect((0..<batch).map(other.prediction(at:)) == (0..<batch).map(session.prediction(at:)), "\(name)")
    }
  }

  /// Two sessions on one pool of two threads, run at the same time from two threads (so their
  /// parallel steps take the pool in turn), give what a session with its own threads gives; a pool
  /// outlives the sessions that used it and serves new ones.
  @Test func twoSessionsShareOneCallerOwnedPool() throws {
    let network = CapsNetwork(try randomModel(mediumConfiguration, seed: 9))
    // 5 images: split by images; 1 image: the small-batch path (threads split the columns).
    let batches = [5, 1]
    let inputs = batches.enumerated().map {
      randomPixels(mediumConfiguration, count: $1, seed: UInt64(30 + $0))
    }
    var expected: [[UInt32]] = []
    for (batch, pixels) in zip(batches, inputs) {
      let alone = try InferenceSession(network: network, maxBatch: batch)
      alone.run(pixels: pixels, reconstruct: true)
      expected.append(
        alone.withLengths { $0.map(\.bitPattern) } + alone.withReconstructions { $0.map(\.bitPattern) })
    }

    let pool = WorkerPool(threadCount: 2)
    let sessions = try batches.map { try InferenceSession(network: network, maxBatch: $0, pool: pool) }
    #expect(sessions.allSatisfy { $0.pool === pool && $0.plan.threadCount == 2 })
    let results = ResultBox(count: sessions.count)
    let box = SessionBox(sessions)
    DispatchQueue.concurrentPerform(iterations: sessions.count) { index in
      let session = box.sessions[index]
      var outputs: [Float] = []
      for _ in 0..<20 {
        session.run(pixels: inputs[index], reconstruct: true)
        outputs = session.withLengths { Array($0) } + session.withReconstructions { Array($0) }
      }
      results.set(index, outputs)
    }
    for index in sessions.indices {
      #expect(results.get(index).map(\.bitPattern) == expected[index], "session \(index)")
    }
    let later = try InferenceSession(network: network, maxBatch: 5, pool: pool)
    later.run(pixels: inputs[0], reconstruct: true)
    #expect(
      later.withLengths { $0.map(\.bitPattern) } + later.withReconstructions { $0.map(\.bitPattern) }
        == expected[0])
  }

  @Test func outputsOfAnImageOutsideTheLastBatchStop() async {
    await #expect(processExitsWith: .failure) {
      let network = CapsNetwork(try randomModel(oddConfiguration, seed: 1))
      let session = try InferenceSession(network: network, maxBatch: 4)
      session.run(pixels: randomPixels(oddConfiguration, count: 2, seed: 1))
      _ = session.prediction(at: 2)  // the arena holds 4; the last run had 2
    }
    await #expect(processExitsWith: .failure) {
      let session = try InferenceSession(
        network: CapsNetwork(try randomModel(oddConfiguration, seed: 1)), maxBatch: 4)
      _ = session.prediction(at: 0)  // no run yet
    }
    await #expect(processExitsWith: .failure) {
      let network = CapsNetwork(try randomModel(oddConfiguration, seed: 1))
      let session = try InferenceSession(network: network, maxBatch: 4)
      session.run(pixels: randomPixels(oddConfiguration, count: 2, seed: 1))
      _ = session.length(at: -1, capsule: 0)
    }
  }

  @Test func aCapsuleOrStageTheModelOrPlanLacksStops() async {
    await #expect(processExitsWith: .failure) {
      let network = CapsNetwork(try randomModel(oddConfiguration, seed: 1))
      let session = try InferenceSession(network: network, maxBatch: 4)
      session.run(pixels: randomPixels(oddConfiguration, count: 2, seed: 1))
      // Capsule 4 of image 0 would be capsule 0 of image 1: in the arena, but not this image's.
      _ = session.length(at: 0, capsule: oddConfiguration.outputCapsules)
    }
    await #expect(processExitsWith: .failure) {
      let network = CapsNetwork(try randomModel(oddConfiguration, seed: 1))
      let session = try InferenceSession(network: network, maxBatch: 4)  // records no intermediates
      session.run(pixels: randomPixels(oddConfiguration, count: 1, seed: 1))
      _ = session.stageOutput(.conv1, image: 0)
    }
    await #expect(processExitsWith: .failure) {
      let network = CapsNetwork(try randomModel(oddConfiguration, seed: 1))
      let session = try InferenceSession(network: network, maxBatch: 4)
      session.run(pixels: randomPixels(oddConfiguration, count: 1, seed: 1), reconstruct: false)
      _ = session.stageOutput(.reconstruction, image: 0)
    }
  }

  @Test func pixelsThatAreNotWholeImagesOrTooManyStop() async {
    await #expect(processExitsWith: .failure) {
      let session = try InferenceSession(
        network: CapsNetwork(try randomModel(oddConfiguration, seed: 1)), maxBatch: 4)
      session.run(pixels: [Float](repeating: 0, count: 13 * 13 + 1))
    }
    await #expect(processExitsWith: .failure) {
      let session = try InferenceSession(
        network: CapsNetwork(try randomModel(oddConfiguration, seed: 1)), maxBatch: 4)
      session.run(pixels: [Float](repeating: 0, count: 5 * 13 * 13))
    }
  }

  @Test func aPoolOfAnotherThreadCountThanThePlanStops() async {
    await #expect(processExitsWith: .failure) {
      let network = CapsNetwork(try randomModel(oddConfiguration, seed: 1))
      let plan = try InferencePlan(network: network, maxBatch: 4, threads: 3)
      _ = InferenceSession(network: network, plan: plan, pool: WorkerPool(threadCount: 2))
    }
  }

  /// `caps_sgemm_packed` returns -1 (and computes nothing) for packed weights whose header does not
  /// match: a session refuses them when it is created and a run stops on the return code.
  @Test func packedWeightsTheGEMMRefusesStopTheSession() async throws {
    await #expect(processExitsWith: .failure) {
      let network = CapsNetwork(try randomModel(oddConfiguration, seed: 1))
      network.conv2.storage[0] = 0  // the packed header's magic
      _ = try InferenceSession(network: network, maxBatch: 4)
    }
    await #expect(processExitsWith: .failure) {
      let network = CapsNetwork(try randomModel(ninesConfiguration, seed: 1))
      network.winograd?.positions[35].storage[0] = 0
      _ = try InferenceSession(network: network, maxBatch: 4)  // Winograd: the default for 9 x 9 / 2
    }
    await #expect(processExitsWith: .failure) {
      let network = CapsNetwork(try randomModel(oddConfiguration, seed: 1))
      let session = try InferenceSession(network: network, maxBatch: 4)
      network.decoder[0].weights.storage[0] = 0  // damaged after the session's check
      session.run(pixels: randomPixels(oddConfiguration, count: 1, seed: 1), reconstruct: true)
    }
    // The same runs on intact weights finish (so the failures above are the checks').
    let network = CapsNetwork(try randomModel(oddConfiguration, seed: 1))
    let session = try InferenceSession(network: network, maxBatch: 4)
    session.run(pixels: randomPixels(oddConfiguration, count: 1, seed: 1), reconstruct: true)
    #expect(session.lastRunReconstructed)
    let nines = CapsNetwork(try randomModel(ninesConfiguration, seed: 1))
    let winograd = try InferenceSession(network: nines, maxBatch: 4)
    #expect(winograd.plan.convolution == .winograd)
    winograd.run(pixels: randomPixels(ninesConfiguration, count: 2, seed: 1))
  }
}

/// Sessions handed to concurrent workers, each using only its own.
private final class SessionBox: @unchecked Sendable {
  let sessions: [InferenceSession]
  init(_ sessions: [InferenceSession]) { self.sessions = sessions }
}
