import CCapsKernels
import CapsFormat

/// Working memory for one session, computed once for a maximum batch before anything is allocated.
///
/// Each thread owns a slice of scratch for one group of images (im2col matrices, convolution
/// outputs, capsules, prediction vectors, routing state, GEMM panels); batch-sized buffers hold
/// inputs and outputs. `arenaByteCount` is the whole arena a session will allocate.
public struct InferencePlan: Sendable {
  /// Largest batch `run` accepts.
  public let maxBatch: Int
  /// Threads used by a run (the caller's included).
  public let threadCount: Int
  /// Images each thread pushes through the convolutions together (larger GEMMs).
  public let imagesPerGroup: Int
  /// Whether every stage's output is kept for `InferenceSession.stageOutput` (verification).
  public let recordsIntermediates: Bool
  /// Bytes of the arena a session allocates for this plan.
  public let arenaByteCount: Int

  /// Float offsets of each buffer inside the arena.
  struct Layout: Sendable {
    // Batch-sized buffers.
    var input = 0, digitCapsules = 0, lengths = 0, predictions = 0
    var decoderInput = 0, decoderHidden: [Int] = [], reconstruction = 0
    var recordConv1 = 0, recordConv2 = 0, recordPrimary = 0, recordPredictions = 0, recordCouplings = 0
    // Per-thread scratch: offset of thread 0's slice, and the stride between threads.
    var threadBase = 0, threadStride = 0
    var im2col1 = 0, conv1 = 0, im2col2 = 0, conv2 = 0, primary = 0, predictionVectors = 0
    var logits = 0, couplings = 0, gemm = 0
    var totalFloats = 0
  }

  let layout: Layout

  /// Plans for `network` and batches of up to `maxBatch` images.
  ///
  /// - Parameters:
  ///   - threads: Threads per run; defaults to the machine's active processors.
  ///   - imagesPerGroup: Images per convolution GEMM in each thread (default 4).
  ///   - recordsIntermediates: Keep every stage's output (for `capsconv verify`); costs memory.
  public init(
    network: CapsNetwork, maxBatch: Int, threads: Int? = nil, imagesPerGroup: Int = 4,
    recordsIntermediates: Bool = false
  ) {
    precondition(maxBatch >= 1, "maxBatch must be at least 1")
    let c = network.configuration
    self.maxBatch = maxBatch
    threadCount = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
    self.imagesPerGroup = max(1, min(imagesPerGroup, maxBatch))
    self.recordsIntermediates = recordsIntermediates

    var layout = Layout()
    var cursor = 0
    func take(_ count: Int) -> Int {
      let offset = cursor
      cursor += (count + 15) / 16 * 16  // keep every buffer 64-byte aligned
      return offset
    }
    let inputSize = c.inputChannels * c.inputSize * c.inputSize
    let conv1Positions = c.conv1OutputSize * c.conv1OutputSize
    let primaryPositions = c.primaryGrid * c.primaryGrid
    let capsuleWidth = c.outputCapsules * c.outputDimension
    let pairs = c.inputCapsules * c.outputCapsules
    let iterations = network.metadata.routingIterations

    layout.input = take(maxBatch * inputSize)
    layout.digitCapsules = take(maxBatch * capsuleWidth)
    layout.lengths = take(maxBatch * c.outputCapsules)
    layout.predictions = take(maxBatch)
    layout.decoderInput = take(maxBatch * capsuleWidth)
    layout.decoderHidden = c.decoderWidths.dropLast().map { take(maxBatch * $0) }
    layout.reconstruction = take(maxBatch * (c.decoderWidths.last ?? 0))
    if recordsIntermediates {
      layout.recordConv1 = take(maxBatch * conv1Positions * c.conv1Channels)
      layout.recordConv2 = take(maxBatch * primaryPositions * c.primaryChannels)
      layout.recordPrimary = take(maxBatch * c.inputCapsules * c.primaryDimension)
      layout.recordPredictions = take(maxBatch * pairs * c.outputDimension)
      layout.recordCouplings = take(maxBatch * iterations * pairs)
    }

    // One group per thread; small batches split single images across threads, so size for both.
    let group = max(self.imagesPerGroup, threadCount)
    let conv1Columns = c.inputChannels * c.conv1Kernel * c.conv1Kernel
    let conv2Columns = c.primaryKernel * c.primaryKernel * c.conv1Channels
    var gemmScratch = max(
      caps_sgemm_scratch_count(Int32(group * conv1Positions), Int32(conv1Columns)),
      caps_sgemm_scratch_count(Int32(group * primaryPositions), Int32(conv2Columns)))
    var width = capsuleWidth
    for outputs in c.decoderWidths {
      gemmScratch = max(gemmScratch, caps_sgemm_scratch_count(Int32(maxBatch), Int32(width)))
      width = outputs
    }
    let threadStart = cursor
    layout.threadBase = threadStart
    layout.im2col1 = take(group * conv1Positions * conv1Columns) - threadStart
    layout.conv1 = take(group * conv1Positions * c.conv1Channels) - threadStart
    layout.im2col2 = take(group * primaryPositions * conv2Columns) - threadStart
    layout.conv2 = take(group * primaryPositions * c.primaryChannels) - threadStart
    layout.primary = take(c.inputCapsules * c.primaryDimension) - threadStart
    layout.predictionVectors = take(pairs * c.outputDimension) - threadStart
    layout.logits = take(pairs) - threadStart
    layout.couplings = take(pairs) - threadStart
    layout.gemm = take(gemmScratch) - threadStart
    layout.threadStride = cursor - threadStart
    layout.totalFloats = threadStart + layout.threadStride * threadCount
    self.layout = layout
    arenaByteCount = layout.totalFloats * MemoryLayout<Float>.size
  }
}

#if canImport(Foundation)
  import Foundation
#endif
