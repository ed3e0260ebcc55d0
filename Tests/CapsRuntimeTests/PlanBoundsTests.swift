import CapsRuntime
import CapsTestSupport
import CapsVerify
import Foundation
import Testing

@testable import CapsFormat
@testable import CapsHDF5Writer

/// Plans whose memory does not grow with the thread count, and arenas bounded before allocation.
@Suite struct PlanBoundsTests {
  static let standard: CapsNetwork = {
    // The standard architecture with zero weights: the plan depends on the shapes only.
    let c = CapsNetConfiguration(
      inputSize: 28, inputChannels: 1, conv1Channels: 256, conv1Kernel: 9, primaryKernel: 9, primaryStride: 2,
      primaryTypes: 32, primaryDimension: 8, outputCapsules: 10, outputDimension: 16,
      decoderWidths: [512, 1024, 784])
    // swift-format-ignore: NeverUseForceTry
    return CapsNetwork(try! uniformModel(c, value: 0))
  }()

  /// One image at 1...64 threads: only the GEMM panels (about 0.2 MB a thread) are per thread. The
  /// old plan gave every thread scratch for `threads` images: 64 threads asked for 17 GB.
  @Test func oneImageCostsTheSameAtAnyThreadCount() throws {
    let one = try InferencePlan(network: Self.standard, maxBatch: 1, threads: 1).arenaByteCount
    for threads in [2, 8, 16, 64] {
      let plan = try InferencePlan(network: Self.standard, maxBatch: 1, threads: threads)
      #expect(
        plan.arenaByteCount - one <= (threads - 1) * 300_000, "\(threads) threads: \(plan.arenaByteCount)")
    }
    #expect(one < 8 << 20)
  }

  /// A full batch: per-thread scratch is constant, so the arena grows at most linearly.
  @Test func perThreadScratchDoesNotDependOnTheThreadCount() throws {
    let two = try InferencePlan(network: Self.standard, maxBatch: 64, threads: 2).arenaByteCount
    let four = try InferencePlan(network: Self.standard, maxBatch: 64, threads: 4).arenaByteCount
    let eight = try InferencePlan(network: Self.standard, maxBatch: 64, threads: 8).arenaByteCount
    #expect(eight - four == 2 * (four - two))
  }

  /// 1x1 kernels on an 8192x8192 input (a 5 KB model): about 2.5 GiB for one image, refused
  /// before anything is allocated, with the size in the message.
  @Test func anArenaPastTheLimitIsRefusedBeforeAllocating() throws {
    let c = CapsNetConfiguration(
      inputSize: 8192, inputChannels: 1, conv1Channels: 8, conv1Kernel: 1, primaryKernel: 1,
      primaryStride: 8192, primaryTypes: 1, primaryDimension: 8, outputCapsules: 2, outputDimension: 4,
      decoderWidths: [])
    let network = CapsNetwork(try uniformModel(c, value: 0))
    #expect(c.primaryGrid == 1)
    do {
      _ = try InferencePlan.fitting(network: network, maxBatch: 32, threads: 2)
      Issue.record("planned")
    } catch {
      #expect(error.maxBatch == 1)
      #expect(error.description.contains("GiB of working memory for a batch of 1 image"), "\(error)")
    }
    // A batch that does not fit is halved until it does.
    let plan = try InferencePlan.fitting(
      network: Self.standard, maxBatch: 4096, threads: 2, arenaLimit: 64 << 20)
    #expect(plan.maxBatch < 4096 && plan.arenaByteCount <= 64 << 20)
  }
}

/// A NaN result is never a prediction: verify fails on non-finite lengths even when the reference
/// holds only predictions (the argmax of NaN lengths is 0, which matched a reference of zeros).
@Suite struct NonFiniteVerifyTests {
  @Test func nonFiniteLengthsFailVerification() throws {
    let c = CapsNetConfiguration(
      inputSize: 28, inputChannels: 1, conv1Channels: 4, conv1Kernel: 9, primaryKernel: 9, primaryStride: 2,
      primaryTypes: 2, primaryDimension: 4, outputCapsules: 10, outputDimension: 4, decoderWidths: [])
    let network = CapsNetwork(try uniformModel(c, value: 1e30))
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("reference.h5").path
    let file = try HDF5Writer.createInMemory(path: path)
    try file.write("pixels", shape: [3, 1, 28, 28], values: [UInt8](repeating: 200, count: 3 * 784))
    try file.write("prediction", shape: [3], values: [Int64](repeating: 0, count: 3))
    try file.setAttribute("format", .strings(["capskit-activations"]))
    try Data(try file.fileImage()).write(to: URL(fileURLWithPath: path))
    let report = try ParityCheck.run(
      network: network, reference: try ReferenceActivations.read(at: path), batchSize: 2)
    #expect(report.mismatchedImages.isEmpty)  // NaN lengths argmax to 0, as the reference says
    #expect(report.nonFiniteImages == [0, 1, 2])
    #expect(!report.passed)
  }
}
