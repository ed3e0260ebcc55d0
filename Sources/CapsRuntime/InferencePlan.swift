internal import CCapsKernels
import CapsCore
import Foundation

/// Working memory for one session, computed once for a maximum batch before anything is allocated.
///
/// Memory does not grow with the thread count beyond a constant per thread: each thread that can
/// receive images owns scratch for one group of images (im2col matrices, convolution outputs,
/// capsules, prediction vectors, routing state), every thread owns its GEMM panels, and batch-sized
/// buffers hold inputs and outputs. Threads never exceed `maximumThreads`, batches never exceed
/// `maximumBatch`, and a plan whose arena would pass `arenaLimit` bytes is refused (`TooLarge`)
/// before anything is allocated; every size is computed with overflow checks.
public struct InferencePlan: Sendable {
  /// Largest batch a plan accepts.
  public static let maximumBatch = 4096
  /// Most threads a plan uses (`--threads` takes 1...64).
  public static let maximumThreads = 64
  /// The default thread count is one per processor, but at most this many: beyond 16 threads a
  /// small batch's convolutions (256 output channels, split in 16-column panels) have no work left
  /// to share, and large batches gain little on memory-bound GEMMs.
  public static let defaultThreadLimit = 16
  /// Largest arena a plan allocates unless told otherwise (1 GiB).
  public static let defaultArenaLimit = 1 << 30

  /// One thread per active processor, at most `defaultThreadLimit`.
  public static var defaultThreadCount: Int {
    max(1, min(ProcessInfo.processInfo.activeProcessorCount, defaultThreadLimit))
  }

  /// Why a plan was refused: its arena would be larger than the limit (or not even computable).
  public struct TooLarge: Error, CustomStringConvertible, Sendable {
    /// Bytes the arena would need; nil when the size overflows 64 bits.
    public var byteCount: Int?
    /// The limit it was checked against.
    public var limit: Int
    /// The batch it was planned for.
    public var maxBatch: Int

    public var description: String {
      let size = byteCount.map { Self.format(bytes: $0) } ?? "more than 2^63 bytes"
      return
        "the model needs \(size) of working memory for a batch of \(maxBatch) "
        + "\(maxBatch == 1 ? "image" : "images"), more than the \(Self.format(bytes: limit)) allowed"
    }

    static func format(bytes: Int) -> String {
      let value = Double(bytes)
      if bytes >= 1 << 30 { return String(format: "%.1f GiB", value / Double(1 << 30)) }
      return String(format: "%.1f MiB", value / Double(1 << 20))
    }
  }

  /// Largest batch `run` accepts.
  public let maxBatch: Int
  /// Threads used by a run (the caller's included).
  public let threadCount: Int
  /// Images each thread pushes through the convolutions together (larger GEMMs) when the batch
  /// is split by images.
  public let imagesPerGroup: Int
  /// Images per convolution group of a batch smaller than the thread count (the threads then
  /// split each group's GEMM columns).
  public let smallBatchGroup: Int
  /// Whether every stage's output is kept for `InferenceSession.stageOutput` (verification).
  public let recordsIntermediates: Bool
  /// The arithmetic of the convolutions.
  public let precision: Precision
  /// How the primary convolution is computed.
  public let convolution: ConvolutionAlgorithm
  /// Bytes of the arena a session allocates for this plan.
  public let arenaByteCount: Int

  /// Float offsets of one thread's image scratch, relative to its start.
  struct Slot: Sendable {
    // With Winograd, `im2col2` holds the 36 transformed inputs and `products` the 36 GEMM outputs.
    var im2col1 = 0, conv1 = 0, im2col2 = 0, products = 0, conv2 = 0, primary = 0, predictionVectors = 0
    var logits = 0, couplings = 0
    // int8 only: the group's u8 pixels, then its u8 conv1 output (one region), and conv2's row
    // scales. The u8 im2col matrices reuse the (4x larger) float im2col regions.
    var quantized = 0, rowScales = 0
    var floats = 0
  }

  /// Float offsets of each buffer inside the arena.
  struct Layout: Sendable {
    // Batch-sized buffers.
    var input = 0, digitCapsules = 0, lengths = 0, predictions = 0
    var decoderInput = 0, decoderHidden: [Int] = [], reconstruction = 0
    var recordConv1 = 0, recordConv2 = 0, recordPrimary = 0, recordPredictions = 0, recordCouplings = 0
    // Image scratch: thread 0's slot (sized for `smallBatchGroup` images), then one slot per other
    // thread that can receive images (sized for `imagesPerGroup`), `slotStride` apart.
    var firstSlot = Slot(), slot = Slot()
    var firstSlotBase = 0, slotBase = 0, slotStride = 0
    // GEMM panels: one per thread, `gemmStride` apart.
    var gemmBase = 0, gemmStride = 0
    var totalFloats = 0
  }

  let layout: Layout

  /// Plans for `network` and batches of up to `maxBatch` images.
  ///
  /// - Parameters:
  ///   - maxBatch: 1...`maximumBatch`.
  ///   - threads: Threads per run, 1...`maximumThreads`; defaults to `defaultThreadCount`.
  ///   - imagesPerGroup: Images per convolution GEMM in each thread (default 4).
  ///   - recordsIntermediates: Keep every stage's output (for `capsconv verify`); costs memory.
  ///   - precision: The convolutions' arithmetic (`int8` adds a few byte buffers per thread).
  ///   - convolution: The primary convolution's algorithm; nil takes
  ///     `network.defaultConvolution(for: precision)`. `.winograd` needs fp32 and a network that
  ///     `supportsWinograd` (a precondition).
  ///   - arenaLimit: Largest arena accepted, in bytes.
  /// - Throws: `TooLarge` when the arena would exceed `arenaLimit`; nothing is allocated.
  public init(
    network: CapsNetwork, maxBatch: Int, threads: Int? = nil, imagesPerGroup: Int = 4,
    recordsIntermediates: Bool = false, precision: Precision = .fp32,
    convolution: ConvolutionAlgorithm? = nil,
    arenaLimit: Int = InferencePlan.defaultArenaLimit
  ) throws(TooLarge) {
    precondition((1...Self.maximumBatch).contains(maxBatch), "maxBatch must be 1...\(Self.maximumBatch)")
    let requested = threads ?? Self.defaultThreadCount
    precondition((1...Self.maximumThreads).contains(requested), "threads must be 1...\(Self.maximumThreads)")
    let c = network.configuration
    self.maxBatch = maxBatch
    threadCount = requested
    let perGroup = max(1, imagesPerGroup)
    // Split by images, a thread gets ceil(batch / threads) images at most.
    self.imagesPerGroup = min(perGroup, (maxBatch + requested - 1) / requested)
    smallBatchGroup = min(perGroup, maxBatch)
    self.recordsIntermediates = recordsIntermediates
    self.precision = precision
    let algorithm = convolution ?? network.defaultConvolution(for: precision)
    precondition(
      algorithm == .direct || (precision == .fp32 && network.supportsWinograd),
      "the Winograd convolution needs fp32 and a network that supports it")
    self.convolution = algorithm
    let tooLarge = TooLarge(byteCount: nil, limit: arenaLimit, maxBatch: maxBatch)

    // Every size below is a product of sizes a model file chose: overflow means "too large".
    var overflowed = false
    func product(_ factors: Int...) -> Int {
      var result = 1
      for factor in factors {
        let (next, overflow) = result.multipliedReportingOverflow(by: max(factor, 0))
        if overflow { overflowed = true }
        result = overflow ? 0 : next
      }
      return result
    }
    var cursor = 0
    func take(_ count: Int) -> Int {
      let offset = cursor
      let (padded, overflow) = count.addingReportingOverflow(15)
      let (next, overflow2) = cursor.addingReportingOverflow(padded / 16 * 16)  // 64-byte aligned
      if overflow || overflow2 { overflowed = true }
      cursor = overflow || overflow2 ? cursor : next
      return offset
    }

    let inputSize = product(c.inputChannels, c.inputSize, c.inputSize)
    let conv1Positions = product(c.conv1OutputSize, c.conv1OutputSize)
    let primaryPositions = product(c.primaryGrid, c.primaryGrid)
    let capsuleWidth = product(c.outputCapsules, c.outputDimension)
    let pairs = product(c.inputCapsules, c.outputCapsules)
    let iterations = network.metadata.routingIterations
    let conv1Columns = product(c.inputChannels, c.conv1Kernel, c.conv1Kernel)
    let conv2Columns = product(c.primaryKernel, c.primaryKernel, c.conv1Channels)
    // Winograd: per image, tiles x tiles rows of 36 GEMMs with K = 4 x conv1's channels.
    let winograd = algorithm == .winograd
    let tiles = Int(caps_winograd_tiles(Int32(clamping: c.primaryGrid)))
    let tileRows = product(tiles, tiles)
    let positions = Int(CAPS_WINOGRAD_POSITIONS)
    let winogradDepth = product(Int(CAPS_WINOGRAD_PHASES), c.conv1Channels)

    // The kernels take 32-bit sizes: every GEMM dimension and image count must fit.
    let largestGroup = max(self.imagesPerGroup, smallBatchGroup)
    let gemmSizes = [
      product(largestGroup, conv1Positions), product(largestGroup, primaryPositions), conv1Columns,
      conv2Columns, c.conv1Channels, c.primaryChannels, pairs, capsuleWidth, product(maxBatch, inputSize),
      product(largestGroup, tileRows), winogradDepth,
    ]
    guard !overflowed, gemmSizes.allSatisfy({ $0 <= Int(Int32.max) }) else { throw tooLarge }

    var layout = Layout()
    layout.input = take(product(maxBatch, inputSize))
    layout.digitCapsules = take(product(maxBatch, capsuleWidth))
    layout.lengths = take(product(maxBatch, c.outputCapsules))
    layout.predictions = take(maxBatch)
    layout.decoderInput = take(product(maxBatch, capsuleWidth))
    layout.decoderHidden = c.decoderWidths.dropLast().map { take(product(maxBatch, $0)) }
    layout.reconstruction = take(product(maxBatch, c.decoderWidths.last ?? 0))
    if recordsIntermediates {
      layout.recordConv1 = take(product(maxBatch, conv1Positions, c.conv1Channels))
      layout.recordConv2 = take(product(maxBatch, primaryPositions, c.primaryChannels))
      layout.recordPrimary = take(product(maxBatch, c.inputCapsules, c.primaryDimension))
      layout.recordPredictions = take(product(maxBatch, pairs, c.outputDimension))
      layout.recordCouplings = take(product(maxBatch, iterations, pairs))
    }

    func slot(images group: Int) -> Slot {
      let start = cursor
      var slot = Slot()
      slot.im2col1 = take(product(group, conv1Positions, conv1Columns)) - start
      slot.conv1 = take(product(group, conv1Positions, c.conv1Channels)) - start
      if winograd {
        // 36 matrices each, `caps_winograd_plane` floats apart (padded off a 4 KiB stride).
        let rows = product(group, tileRows)
        guard rows <= Int(Int32.max) else {
          overflowed = true
          return slot
        }
        slot.im2col2 =
          take(product(positions, caps_winograd_plane(Int32(rows), Int32(winogradDepth)))) - start
        slot.products =
          take(product(positions, caps_winograd_plane(Int32(rows), Int32(c.primaryChannels)))) - start
      } else {
        slot.im2col2 = take(product(group, primaryPositions, conv2Columns)) - start
      }
      slot.conv2 = take(product(group, primaryPositions, c.primaryChannels)) - start
      // The capsule part runs on the whole group at once (the routing weights are read once per
      // group): primary capsules, prediction vectors and logits for every image of the group.
      slot.primary = take(product(group, c.inputCapsules, c.primaryDimension)) - start
      slot.predictionVectors = take(product(group, pairs, c.outputDimension)) - start
      slot.logits = take(product(group, pairs)) - start
      slot.couplings = take(pairs) - start
      if precision == .int8 {
        let bytes = max(product(group, inputSize), product(group, conv1Positions, c.conv1Channels))
        slot.quantized = take(bytes / 4 + 1) - start
        slot.rowScales = take(product(group, primaryPositions)) - start
      }
      slot.floats = cursor - start
      return slot
    }
    // Thread 0 runs small batches group by group; threads 1..<slots get images only when the batch
    // is split by images, which needs batch >= threads, so at most maxBatch threads hold images.
    layout.firstSlotBase = cursor
    layout.firstSlot = slot(images: largestGroup)
    let imageSlots = min(threadCount, maxBatch)
    layout.slotBase = cursor
    if imageSlots > 1 {
      layout.slot = slot(images: self.imagesPerGroup)
      layout.slotStride = layout.slot.floats
      _ = take(product(imageSlots - 2, layout.slotStride))
    }

    var gemmScratch = max(
      caps_sgemm_scratch_count(Int32(product(largestGroup, conv1Positions)), Int32(conv1Columns)),
      caps_sgemm_scratch_count(Int32(product(largestGroup, primaryPositions)), Int32(conv2Columns)))
    if winograd {
      gemmScratch = max(
        gemmScratch, caps_sgemm_scratch_count(Int32(product(largestGroup, tileRows)), Int32(winogradDepth)))
    }
    if precision == .int8 {
      let bytes = max(
        caps_i8gemm_scratch_bytes(Int32(product(largestGroup, conv1Positions)), Int32(conv1Columns)),
        caps_i8gemm_scratch_bytes(Int32(product(largestGroup, primaryPositions)), Int32(conv2Columns)))
      gemmScratch = max(gemmScratch, bytes / 4 + 1)
    }
    var width = capsuleWidth
    for outputs in c.decoderWidths {
      guard width <= Int(Int32.max) else { throw tooLarge }
      gemmScratch = max(gemmScratch, caps_sgemm_scratch_count(Int32(maxBatch), Int32(width)))
      width = outputs
    }
    layout.gemmBase = cursor
    _ = take(gemmScratch)
    layout.gemmStride = cursor - layout.gemmBase
    _ = take(product(threadCount - 1, layout.gemmStride))
    layout.totalFloats = cursor
    let (bytes, overflow) = cursor.multipliedReportingOverflow(by: MemoryLayout<Float>.size)
    guard !overflowed, !overflow else { throw tooLarge }
    guard bytes <= arenaLimit else {
      throw TooLarge(byteCount: bytes, limit: arenaLimit, maxBatch: maxBatch)
    }
    self.layout = layout
    arenaByteCount = bytes
  }

  /// The plan for the largest batch up to `maxBatch` whose arena fits `arenaLimit` (halving the
  /// batch until it does); throws the refusal for a batch of one image when none fits.
  public static func fitting(
    network: CapsNetwork, maxBatch: Int, threads: Int? = nil, recordsIntermediates: Bool = false,
    precision: Precision = .fp32, convolution: ConvolutionAlgorithm? = nil,
    arenaLimit: Int = defaultArenaLimit
  ) throws(TooLarge) -> InferencePlan {
    var batch = maxBatch
    while true {
      do {
        return try InferencePlan(
          network: network, maxBatch: batch, threads: threads, recordsIntermediates: recordsIntermediates,
          precision: precision, convolution: convolution, arenaLimit: arenaLimit)
      } catch {
        if batch == 1 { throw error }
        batch = (batch + 1) / 2
      }
    }
  }
}
