internal import CCapsKernels
import CapsCore

/// Runs a `CapsNetwork` on batches of images using one arena allocated at creation.
///
/// After `init`, `run` performs no heap allocation and never throws: it only reads the packed
/// weights and writes into the arena. A session is used by one caller at a time (it is not
/// `Sendable`); create one session per thread to classify concurrently, sharing the network and,
/// to bound the threads, one caller-owned ``WorkerPool``.
///
/// Every index is checked: reading an image the last run did not have, a capsule the model does
/// not have, or a stage the plan does not record is a precondition failure, never a read outside
/// the arena.
///
/// ```swift
/// let (model, _) = try ModelFile.read(at: "standard.caps.h5")
/// let network = CapsNetwork(model)
/// let session = try InferenceSession(network: network, maxBatch: 64)
/// session.run(pixels: pixels)  // [Float], 64 images of 28 x 28
/// let digit = session.prediction(at: 0)
/// ```
public final class InferenceSession {
  /// The network this session runs.
  public let network: CapsNetwork
  /// The memory plan: batch limit, threads, arena size.
  public let plan: InferencePlan

  private let arena: AlignedBuffer
  // The primary convolution's form this session's plan uses (made by the network on first use).
  private let directConv2: PackedMatrix?
  private let winogradWeights: WinogradWeights?
  private let quantized: QuantizedConvolutions?
  /// The threads of the parallel steps: the session's own, or one shared with other sessions.
  public let pool: WorkerPool
  // The current run, read by the worker threads (published by the pool's semaphores).
  private var batchCount = 0
  // The group of a small batch whose convolution columns (or capsules) the threads are splitting.
  private var groupCount = 0
  private var groupStart = 0
  private var wantsReconstruction = false
  private var phase = Phase.wholeImages

  private enum Phase {
    /// Each thread runs the whole network on its own range of images.
    case wholeImages
    /// Threads split the columns of the first convolution of a small batch.
    case conv1Columns
    /// Threads split the columns of the primary convolution of a small batch.
    case conv2Columns
    /// Threads split the input capsules of a small batch's prediction vectors.
    case predictionInputs
    /// Threads split the output capsules of a small batch's routing (softmax over the inputs).
    case routingOutputs
  }

  /// Allocates the arena of `plan` and runs on `pool`, or on worker threads of its own when `pool`
  /// is nil. A shared pool must have the plan's thread count (the arena holds scratch per thread).
  ///
  /// Checks, once, that every packed weight matrix is the size the plan's GEMMs will ask for and
  /// was packed for the network's kernel: `caps_sgemm_packed` refuses (returns -1 for) any other,
  /// and a run also stops with a precondition failure if it ever does.
  public init(network: CapsNetwork, plan: InferencePlan, pool: WorkerPool? = nil) {
    if let pool {
      precondition(
        pool.threadCount == plan.threadCount,
        "the pool has \(pool.threadCount) threads, the plan \(plan.threadCount)")
    }
    network.checkPackedWeights(for: plan)
    let fp32 = plan.precision == .fp32
    directConv2 = fp32 && plan.convolution == .direct ? network.conv2 : nil
    winogradWeights = fp32 && plan.convolution == .winograd ? network.winograd : nil
    quantized = fp32 ? nil : network.quantized
    self.network = network
    self.plan = plan
    arena = AlignedBuffer(count: plan.layout.totalFloats)
    self.pool = pool ?? WorkerPool(threadCount: plan.threadCount)
  }

  /// A session with the default plan for batches of up to `maxBatch` images, on its own threads or
  /// on `pool` (then with the pool's thread count).
  ///
  /// - Throws: `InferencePlan.TooLarge` when the model's arena would pass the default limit.
  public convenience init(network: CapsNetwork, maxBatch: Int, pool: WorkerPool? = nil) throws(InferencePlan
    .TooLarge)
  {
    let plan = try InferencePlan(network: network, maxBatch: maxBatch, threads: pool?.threadCount)
    self.init(network: network, plan: plan, pool: pool)
  }

  // MARK: Running

  /// Classifies `batch` images.
  ///
  /// - Parameters:
  ///   - batch: Number of images, 1...`plan.maxBatch`.
  ///   - pixels: `batch * channels * size * size` values on the 0...255 scale, image after image,
  ///     row-major (white digit on black, like MNIST). The model's normalisation is applied here.
  ///   - reconstruct: Also run the decoder (masked by the predicted class).
  public func run(batch: Int, pixels: UnsafeBufferPointer<Float>, reconstruct: Bool = false) {
    precondition(batch >= 1 && batch <= plan.maxBatch, "batch must be 1...\(plan.maxBatch)")
    precondition(pixels.count >= batch * imageSize, "pixels holds fewer than \(batch) images")
    let normalization = network.metadata.normalization
    caps_normalize_pixels(
      pixels.baseAddress, batch * imageSize, Float(normalization.mean), Float(normalization.std),
      pointer(plan.layout.input))
    runNormalized(batch: batch, reconstruct: reconstruct)
  }

  /// Classifies the images in `pixels`, a whole number of images (`channels * size * size` values
  /// each, on the 0...255 scale, image after image, row-major); the batch is `pixels.count` divided
  /// by that size, 1...`plan.maxBatch`.
  ///
  /// The safe entry point: an `Array` (or any collection with contiguous storage) is read in place,
  /// any other collection is copied into the arena value by value; neither allocates.
  public func run<Pixels: Collection<Float>>(pixels: Pixels, reconstruct: Bool = false) {
    let count = pixels.count
    precondition(
      count > 0 && count % imageSize == 0,
      "pixels must hold whole images of \(imageSize) values, found \(count)")
    let batch = count / imageSize
    precondition(
      batch <= plan.maxBatch, "pixels holds \(batch) images, more than the plan's \(plan.maxBatch)")
    let done: Void? = pixels.withContiguousStorageIfAvailable {
      run(batch: batch, pixels: $0, reconstruct: reconstruct)
    }
    guard done == nil else { return }
    let input = pointer(plan.layout.input)
    for (index, value) in zip(0..<count, pixels) { input[index] = value }
    let normalization = network.metadata.normalization
    caps_normalize_pixels(input, count, Float(normalization.mean), Float(normalization.std), input)
    runNormalized(batch: batch, reconstruct: reconstruct)
  }

  /// Values per image: channels * size * size.
  private var imageSize: Int {
    let c = network.configuration
    return c.inputChannels * c.inputSize * c.inputSize
  }

  /// Runs the network on the `batch` normalised images in the arena's input.
  private func runNormalized(batch: Int, reconstruct: Bool) {
    let c = network.configuration
    batchCount = batch
    wantsReconstruction = reconstruct && c.hasDecoder
    if batch >= plan.threadCount || plan.threadCount == 1 {
      phase = .wholeImages
      pool.run(self)
    } else {
      runSmallBatch()
    }
  }

  /// Small batches (fewer images than threads): thread 0 takes the images group by group, and the
  /// threads split the columns of each group's convolutions.
  private func runSmallBatch() {
    let n = batchCount
    let scratch = threadScratch(0)
    var start = 0
    while start < n {
      let group = min(plan.smallBatchGroup, n - start)
      groupCount = group
      im2colConv1(first: start, count: group, scratch: scratch)
      phase = .conv1Columns
      pool.run(self)
      im2colConv2(count: group, scratch: scratch)
      phase = .conv2Columns
      pool.run(self)
      if routesOverInputs {
        primaryCapsules(count: group, scratch: scratch)
        groupStart = start
        phase = .predictionInputs
        pool.run(self)
        phase = .routingOutputs
        pool.run(self)
        finishCapsules(first: start, count: group, scratch: scratch)
      } else {
        capsules(first: start, count: group, scratch: scratch)
      }
      start += group
    }
    decode(first: 0, count: n, scratch: scratch)
  }

  // MARK: Outputs (valid until the next run)

  /// Whether the last run computed reconstructions (asked for, and the model has a decoder).
  public var lastRunReconstructed: Bool { wantsReconstruction }

  /// Images of the last run (0 before the first): the valid `image` indices are `0 ..< lastBatch`.
  public var lastBatch: Int { batchCount }

  /// Predicted class index of image `image` (0 ..< `lastBatch`) of the last run.
  public func prediction(at image: Int) -> Int {
    checkImage(image)
    return Int(pointer(plan.layout.predictions)[image])
  }

  /// Length of output capsule `capsule` (0 ..< `outputCapsules`) of image `image` (0 ..< `lastBatch`):
  /// the model's score for that class.
  public func length(at image: Int, capsule: Int) -> Float {
    checkImage(image)
    let capsules = network.configuration.outputCapsules
    precondition(capsule >= 0 && capsule < capsules, "capsule must be 0..<\(capsules), found \(capsule)")
    return pointer(plan.layout.lengths)[image * capsules + capsule]
  }

  func checkImage(_ image: Int) {
    precondition(
      image >= 0 && image < batchCount,
      batchCount == 0
        ? "no run yet: image \(image) has no output"
        : "image must be 0..<\(batchCount) (the last run's batch), found \(image)")
  }

  /// Calls `body` with the lengths of the last run: `batch * outputCapsules` values.
  public func withLengths<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try body(
      UnsafeBufferPointer(
        start: pointer(plan.layout.lengths), count: batchCount * network.configuration.outputCapsules))
  }

  /// Calls `body` with the output capsules of the last run: `batch * outputCapsules * outputDimension`.
  public func withDigitCapsules<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    let c = network.configuration
    return try body(
      UnsafeBufferPointer(
        start: pointer(plan.layout.digitCapsules), count: batchCount * c.outputCapsules * c.outputDimension))
  }

  /// Calls `body` with the reconstructions of the last run (`batch * inputSize²` values in 0...1);
  /// empty unless the run asked for them and the model has a decoder.
  public func withReconstructions<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    let width = network.configuration.decoderWidths.last ?? 0
    let count = wantsReconstruction ? batchCount * width : 0
    return try body(UnsafeBufferPointer(start: pointer(plan.layout.reconstruction), count: count))
  }

  // MARK: Decoder only (for capsule-dimension perturbations)

  /// Writes the decoder input of image `image` of the last run to `into`: every output capsule
  /// zero except the predicted class's (the mask that `run(batch:pixels:reconstruct:)` applies).
  /// `into` must hold `outputCapsules * outputDimension` values. Allocates nothing.
  public func maskedCapsules(image: Int, into: UnsafeMutableBufferPointer<Float>) {
    let c = network.configuration
    let capsuleWidth = c.outputCapsules * c.outputDimension
    checkImage(image)
    precondition(into.count >= capsuleWidth, "into holds fewer than \(capsuleWidth) values")
    let target = into.baseAddress!
    target.update(repeating: 0, count: capsuleWidth)
    let predicted = Int(pointer(plan.layout.predictions)[image])
    (target + predicted * c.outputDimension).update(
      from: pointer(plan.layout.digitCapsules) + image * capsuleWidth + predicted * c.outputDimension,
      count: c.outputDimension)
  }

  /// Runs only the decoder, on the calling thread, on `count` caller-given decoder inputs.
  ///
  /// - Parameters:
  ///   - capsules: `count` inputs of `outputCapsules * outputDimension` values each (usually from
  ///     ``maskedCapsules(image:into:)``, with one dimension offset).
  ///   - count: 1...`plan.maxBatch`.
  ///   - into: Receives `count` images of `decoderWidths.last` values in 0...1 (`inputSize²`).
  ///
  /// Allocates nothing. Overwrites the decoder's hidden layers in the arena but none of the last
  /// run's outputs (predictions, lengths, capsules, reconstructions), so a row of a run may be
  /// decoded with the same arithmetic as its reconstruction. The model must have a decoder.
  public func decode(
    capsules: UnsafeBufferPointer<Float>, count: Int, into: UnsafeMutableBufferPointer<Float>
  ) {
    let c = network.configuration
    let capsuleWidth = c.outputCapsules * c.outputDimension
    let width = c.decoderWidths.last ?? 0
    precondition(c.hasDecoder, "the model has no decoder")
    precondition(count >= 1 && count <= plan.maxBatch, "count must be 1...\(plan.maxBatch)")
    precondition(capsules.count >= count * capsuleWidth, "capsules holds fewer than \(count) inputs")
    precondition(into.count >= count * width, "into holds fewer than \(count) images")
    runDecoder(
      input: capsules.baseAddress!, count: count, first: 0, output: into.baseAddress!, gemm: gemmPanels(0))
  }

  // MARK: Work

  private struct Scratch {
    var im2col1: UnsafeMutablePointer<Float>
    var conv1: UnsafeMutablePointer<Float>
    var im2col2: UnsafeMutablePointer<Float>
    var products: UnsafeMutablePointer<Float>
    var conv2: UnsafeMutablePointer<Float>
    var primary: UnsafeMutablePointer<Float>
    var predictionVectors: UnsafeMutablePointer<Float>
    var logits: UnsafeMutablePointer<Float>
    var couplings: UnsafeMutablePointer<Float>
    var quantized: UnsafeMutableRawPointer
    var rowScales: UnsafeMutablePointer<Float>
    var gemm: UnsafeMutablePointer<Float>
  }

  private func pointer(_ offset: Int) -> UnsafeMutablePointer<Float> { arena.pointer + offset }

  func arenaPointer(_ offset: Int) -> UnsafeMutablePointer<Float> { arena.pointer + offset }

  /// Thread `index`'s scratch: its image slot (only threads that receive images have one) and its
  /// GEMM panels.
  private func threadScratch(_ index: Int) -> Scratch {
    let layout = plan.layout
    let slot = index == 0 ? layout.firstSlot : layout.slot
    let base =
      arena.pointer + (index == 0 ? layout.firstSlotBase : layout.slotBase + (index - 1) * layout.slotStride)
    return Scratch(
      im2col1: base + slot.im2col1, conv1: base + slot.conv1, im2col2: base + slot.im2col2,
      products: base + slot.products, conv2: base + slot.conv2, primary: base + slot.primary,
      predictionVectors: base + slot.predictionVectors, logits: base + slot.logits,
      couplings: base + slot.couplings, quantized: UnsafeMutableRawPointer(base + slot.quantized),
      rowScales: base + slot.rowScales, gemm: gemmPanels(index))
  }

  private func gemmPanels(_ index: Int) -> UnsafeMutablePointer<Float> {
    arena.pointer + plan.layout.gemmBase + index * plan.layout.gemmStride
  }

  private func im2colConv1(first: Int, count: Int, scratch: Scratch) {
    let c = network.configuration
    let imageSize = c.inputChannels * c.inputSize * c.inputSize
    let rows = c.conv1OutputSize * c.conv1OutputSize
    let columns = c.inputChannels * c.conv1Kernel * c.conv1Kernel
    if plan.precision == .int8 {
      // The pixels as integers 0...255 (undoing the normalisation, which conv1's int8 bias folds in).
      let normalization = network.metadata.normalization
      let pixels = scratch.quantized.assumingMemoryBound(to: UInt8.self)
      let columnsU8 = UnsafeMutableRawPointer(scratch.im2col1).assumingMemoryBound(to: UInt8.self)
      for q in 0..<count {
        caps_quantize_u8(
          pointer(plan.layout.input) + (first + q) * imageSize, imageSize, Float(normalization.std) * 255,
          Float(normalization.mean) * 255, pixels + q * imageSize)
        caps_im2col_nchw_u8(
          pixels + q * imageSize, Int32(c.inputChannels), Int32(c.inputSize), Int32(c.inputSize),
          Int32(c.conv1Kernel), 1, columnsU8 + q * rows * columns)
      }
      return
    }
    for q in 0..<count {
      caps_im2col_nchw(
        pointer(plan.layout.input) + (first + q) * imageSize, Int32(c.inputChannels), Int32(c.inputSize),
        Int32(c.inputSize), Int32(c.conv1Kernel), 1, scratch.im2col1 + q * rows * columns)
    }
  }

  private func gemmConv1(count: Int, scratch: Scratch, columns: Range<Int>) {
    let c = network.configuration
    let rows = count * c.conv1OutputSize * c.conv1OutputSize
    let depth = c.inputChannels * c.conv1Kernel * c.conv1Kernel
    if plan.precision == .int8 {
      guard let q = quantized else { preconditionFailure("an int8 step in an fp32 session") }
      let status = caps_i8gemm_packed(
        Int32(rows), Int32(c.conv1Channels), Int32(depth),
        UnsafeMutableRawPointer(scratch.im2col1).assumingMemoryBound(to: UInt8.self), Int32(depth),
        q.conv1.storage, nil, q.conv1Scale.pointer, q.conv1Bias.pointer, 1, scratch.conv1,
        Int32(c.conv1Channels),
        Int32(columns.lowerBound), Int32(columns.upperBound), scratch.gemm)
      precondition(status == 0, "the packed int8 weights do not match their GEMM")
      return
    }
    let status = caps_sgemm_packed(
      Int32(rows), Int32(c.conv1Channels), Int32(depth), scratch.im2col1, Int32(depth), network.conv1.storage,
      network.conv1Bias.pointer, 1, scratch.conv1, Int32(c.conv1Channels), Int32(columns.lowerBound),
      Int32(columns.upperBound), scratch.gemm)
    precondition(status == 0, "conv1's packed weights do not match its GEMM")
  }

  private func im2colConv2(count: Int, scratch: Scratch) {
    let c = network.configuration
    let inputPositions = c.conv1OutputSize * c.conv1OutputSize
    let rows = c.primaryGrid * c.primaryGrid
    let columns = c.primaryKernel * c.primaryKernel * c.conv1Channels
    if plan.precision == .int8 {
      // conv1's output quantized per image: scale = its largest value / 255 (ReLU: all >= 0).
      let size = inputPositions * c.conv1Channels
      let activations = scratch.quantized.assumingMemoryBound(to: UInt8.self)
      let columnsU8 = UnsafeMutableRawPointer(scratch.im2col2).assumingMemoryBound(to: UInt8.self)
      for q in 0..<count {
        let image = scratch.conv1 + q * size
        let largest = caps_max_or_zero(image, size)
        let scale: Float = largest > 0 ? largest / 255 : 1
        caps_quantize_u8(image, size, 1 / scale, 0, activations + q * size)
        (scratch.rowScales + q * rows).update(repeating: scale, count: rows)
        caps_im2col_nhwc_u8(
          activations + q * size, Int32(c.conv1OutputSize), Int32(c.conv1OutputSize), Int32(c.conv1Channels),
          Int32(c.primaryKernel), Int32(c.primaryStride), columnsU8 + q * rows * columns)
      }
      return
    }
    if plan.convolution == .winograd {
      // The 36 transformed inputs of the group (their rows: image, tile row, tile column).
      let tiles = Int(caps_winograd_tiles(Int32(c.primaryGrid)))
      let status = caps_winograd_transform_input(
        scratch.conv1, Int32(count), Int32(c.conv1OutputSize), Int32(c.conv1OutputSize),
        Int32(c.conv1Channels),
        Int32(c.primaryKernel), Int32(c.primaryGrid), scratch.im2col2,
        caps_winograd_plane(Int32(count * tiles * tiles), Int32(4 * c.conv1Channels)))
      precondition(status == 0, "the Winograd input transform refused the primary convolution")
      return
    }
    for q in 0..<count {
      caps_im2col_nhwc(
        scratch.conv1 + q * inputPositions * c.conv1Channels, Int32(c.conv1OutputSize),
        Int32(c.conv1OutputSize),
        Int32(c.conv1Channels), Int32(c.primaryKernel), Int32(c.primaryStride),
        scratch.im2col2 + q * rows * columns)
    }
  }

  private func gemmConv2(count: Int, scratch: Scratch, columns: Range<Int>) {
    let c = network.configuration
    let rows = count * c.primaryGrid * c.primaryGrid
    let depth = c.primaryKernel * c.primaryKernel * c.conv1Channels
    if plan.precision == .int8 {
      guard let q = quantized else { preconditionFailure("an int8 step in an fp32 session") }
      let status = caps_i8gemm_packed(
        Int32(rows), Int32(c.primaryChannels), Int32(depth),
        UnsafeMutableRawPointer(scratch.im2col2).assumingMemoryBound(to: UInt8.self), Int32(depth),
        q.conv2.storage, scratch.rowScales, q.conv2Scale.pointer, network.conv2Bias.pointer, 0, scratch.conv2,
        Int32(c.primaryChannels), Int32(columns.lowerBound), Int32(columns.upperBound), scratch.gemm)
      precondition(status == 0, "the packed int8 weights do not match their GEMM")
      return
    }
    if plan.convolution == .winograd {
      return winogradConv2(count: count, scratch: scratch, columns: columns)
    }
    guard let weights = directConv2 else {
      preconditionFailure("a direct conv2 step in a session without it")
    }
    let status = caps_sgemm_packed(
      Int32(rows), Int32(c.primaryChannels), Int32(depth), scratch.im2col2, Int32(depth),
      weights.storage,
      network.conv2Bias.pointer, 0, scratch.conv2, Int32(c.primaryChannels), Int32(columns.lowerBound),
      Int32(columns.upperBound), scratch.gemm)
    precondition(status == 0, "conv2's packed weights do not match its GEMM")
  }

  /// The Winograd primary convolution of the group's `count` images (inputs transformed by
  /// `im2colConv2`), output channels `columns`: 36 GEMMs, then the output transform and bias.
  private func winogradConv2(count: Int, scratch: Scratch, columns: Range<Int>) {
    let c = network.configuration
    guard let weights = winogradWeights else {
      preconditionFailure("a Winograd step in a session without it")
    }
    let tiles = Int(caps_winograd_tiles(Int32(c.primaryGrid)))
    let rows = count * tiles * tiles
    let depth = weights.depth
    let inputPlane = caps_winograd_plane(Int32(rows), Int32(depth))
    let productPlane = caps_winograd_plane(Int32(rows), Int32(c.primaryChannels))
    for (k, matrix) in weights.positions.enumerated() {
      let status = caps_sgemm_packed(
        Int32(rows), Int32(c.primaryChannels), Int32(depth), scratch.im2col2 + k * inputPlane, Int32(depth),
        matrix.storage, nil, 0, scratch.products + k * productPlane, Int32(c.primaryChannels),
        Int32(columns.lowerBound), Int32(columns.upperBound), scratch.gemm)
      precondition(status == 0, "conv2's packed Winograd weights do not match their GEMM")
    }
    caps_winograd_transform_output(
      scratch.products, productPlane, Int32(count), Int32(c.primaryGrid), Int32(c.primaryChannels),
      network.conv2Bias.pointer,
      Int32(columns.lowerBound), Int32(columns.upperBound), scratch.conv2)
  }

  /// Whether the capsule part runs output-major (u_hat[j][i][m], fused routing, threads splitting
  /// input then output capsules): with the reference's softmax over the input capsules.
  private var routesOverInputs: Bool { network.metadata.softmaxAxis == .inputCapsules }

  /// Primary capsules, prediction vectors, routing, lengths and predictions for images
  /// `first ..< first + count`, whose primary-convolution output is in `scratch.conv2`.
  private func capsules(first: Int, count: Int, scratch: Scratch) {
    let c = network.configuration
    guard routesOverInputs else { return capsulesOverOutputs(first: first, count: count, scratch: scratch) }
    primaryCapsules(count: count, scratch: scratch)
    predictions(count: count, scratch: scratch, inputs: 0..<c.inputCapsules)
    for q in 0..<count { route(image: first + q, q: q, scratch: scratch, outputs: 0..<c.outputCapsules) }
    finishCapsules(first: first, count: count, scratch: scratch)
  }

  private func primaryCapsules(count: Int, scratch: Scratch) {
    let c = network.configuration
    let positions = c.primaryGrid * c.primaryGrid
    for q in 0..<count {
      caps_primary_capsules(
        scratch.conv2 + q * positions * c.primaryChannels, Int32(c.primaryGrid), Int32(c.primaryTypes),
        Int32(c.primaryDimension), Float(network.metadata.squashEpsilon),
        scratch.primary + q * c.inputCapsules * c.primaryDimension)
    }
  }

  /// Output-major prediction vectors of the group's `count` images, input capsules `inputs` only.
  private func predictions(count: Int, scratch: Scratch, inputs: Range<Int>) {
    let c = network.configuration
    caps_predictions_output_major(
      scratch.primary, network.routingWeights.pointer, Int32(count), Int32(c.inputCapsules),
      Int32(c.outputCapsules), Int32(c.primaryDimension), Int32(c.outputDimension), Int32(inputs.lowerBound),
      Int32(inputs.upperBound), scratch.predictionVectors)
  }

  /// Routing (softmax over the input capsules) of the group's image `q`, output capsules `outputs`.
  private func route(image: Int, q: Int, scratch: Scratch, outputs: Range<Int>) {
    let c = network.configuration
    let metadata = network.metadata
    let pairs = c.inputCapsules * c.outputCapsules
    let history: UnsafeMutablePointer<Float>? =
      plan.recordsIntermediates
      ? pointer(plan.layout.recordCouplings) + image * metadata.routingIterations * pairs : nil
    caps_route_over_inputs(
      scratch.predictionVectors + q * pairs * c.outputDimension, Int32(c.inputCapsules),
      Int32(c.outputCapsules),
      Int32(c.outputDimension), Int32(metadata.routingIterations), Float(metadata.squashEpsilon),
      Int32(outputs.lowerBound), Int32(outputs.upperBound), scratch.logits + q * pairs,
      pointer(plan.layout.digitCapsules) + image * c.outputCapsules * c.outputDimension, history)
  }

  /// Lengths, predictions (and the recorded stages) of images `first ..< first + count`.
  private func finishCapsules(first: Int, count: Int, scratch: Scratch) {
    let c = network.configuration
    let layout = plan.layout
    for q in 0..<count {
      let image = first + q
      let v = pointer(layout.digitCapsules) + image * c.outputCapsules * c.outputDimension
      let lengths = pointer(layout.lengths) + image * c.outputCapsules
      caps_lengths(v, Int32(c.outputCapsules), Int32(c.outputDimension), lengths)
      pointer(layout.predictions)[image] = Float(caps_argmax(lengths, Int32(c.outputCapsules)))
      if plan.recordsIntermediates { record(image: image, q: q, scratch: scratch) }
    }
  }

  /// The capsule part with the paper's softmax over the output capsules: image by image, input-major
  /// u_hat[i][j][m] (the group's first slot), on the calling thread.
  private func capsulesOverOutputs(first: Int, count: Int, scratch: Scratch) {
    let c = network.configuration
    let metadata = network.metadata
    let pairs = c.inputCapsules * c.outputCapsules
    primaryCapsules(count: count, scratch: scratch)
    for q in 0..<count {
      let image = first + q
      caps_predictions(
        scratch.primary + q * c.inputCapsules * c.primaryDimension, network.routingWeights.pointer,
        Int32(c.inputCapsules), Int32(c.outputCapsules), Int32(c.primaryDimension), Int32(c.outputDimension),
        scratch.predictionVectors + q * pairs * c.outputDimension)
      let history: UnsafeMutablePointer<Float>? =
        plan.recordsIntermediates
        ? pointer(plan.layout.recordCouplings) + image * metadata.routingIterations * pairs : nil
      caps_route(
        scratch.predictionVectors + q * pairs * c.outputDimension, Int32(c.inputCapsules),
        Int32(c.outputCapsules), Int32(c.outputDimension), Int32(metadata.routingIterations), 0,
        Float(metadata.squashEpsilon), scratch.logits, scratch.couplings,
        pointer(plan.layout.digitCapsules) + image * c.outputCapsules * c.outputDimension, history)
    }
    finishCapsules(first: first, count: count, scratch: scratch)
  }

  private func record(image: Int, q: Int, scratch: Scratch) {
    let c = network.configuration
    let layout = plan.layout
    let conv1Count = c.conv1OutputSize * c.conv1OutputSize * c.conv1Channels
    let conv2Count = c.primaryGrid * c.primaryGrid * c.primaryChannels
    let primaryCount = c.inputCapsules * c.primaryDimension
    let predictionCount = c.inputCapsules * c.outputCapsules * c.outputDimension
    (pointer(layout.recordConv1) + image * conv1Count).update(
      from: scratch.conv1 + q * conv1Count, count: conv1Count)
    (pointer(layout.recordConv2) + image * conv2Count).update(
      from: scratch.conv2 + q * conv2Count, count: conv2Count)
    (pointer(layout.recordPrimary) + image * primaryCount).update(
      from: scratch.primary + q * primaryCount, count: primaryCount)
    // Recorded input-major, u_hat[i][j][m], as the reference stores it.
    let source = scratch.predictionVectors + q * predictionCount
    let target = pointer(layout.recordPredictions) + image * predictionCount
    guard routesOverInputs else { return target.update(from: source, count: predictionCount) }
    let m = c.outputDimension
    for i in 0..<c.inputCapsules {
      for j in 0..<c.outputCapsules {
        (target + (i * c.outputCapsules + j) * m).update(
          from: source + (j * c.inputCapsules + i) * m, count: m)
      }
    }
  }

  /// The decoder for images `first ..< first + count`: mask all but the predicted capsule, then
  /// Linear + ReLU layers and a final Linear + sigmoid.
  private func decode(first: Int, count: Int, scratch: Scratch) {
    guard wantsReconstruction, count > 0 else { return }
    let c = network.configuration
    let layout = plan.layout
    let capsuleWidth = c.outputCapsules * c.outputDimension
    let masked = pointer(layout.decoderInput) + first * capsuleWidth
    masked.update(repeating: 0, count: count * capsuleWidth)
    for q in 0..<count {
      let predicted = Int(pointer(layout.predictions)[first + q])
      let offset = q * capsuleWidth + predicted * c.outputDimension
      (masked + offset).update(
        from: pointer(layout.digitCapsules) + (first + q) * capsuleWidth + predicted * c.outputDimension,
        count: c.outputDimension)
    }
    let width = c.decoderWidths.last ?? 0
    runDecoder(
      input: masked, count: count, first: first, output: pointer(layout.reconstruction) + first * width,
      gemm: scratch.gemm)
  }

  /// The decoder's layers on `count` inputs of `outputCapsules * outputDimension` values: hidden
  /// layers in rows `first ..< first + count` of the arena's hidden buffers, the last (sigmoid)
  /// layer into `output`.
  private func runDecoder(
    input masked: UnsafePointer<Float>, count: Int, first: Int, output last: UnsafeMutablePointer<Float>,
    gemm: UnsafeMutablePointer<Float>
  ) {
    let c = network.configuration
    var input = masked
    var width = c.outputCapsules * c.outputDimension
    for (index, layer) in network.decoder.enumerated() {
      let outputs = layer.weights.columns
      let isLast = index == network.decoder.count - 1
      let output = isLast ? last : pointer(plan.layout.decoderHidden[index]) + first * outputs
      let status = caps_sgemm_packed(
        Int32(count), Int32(outputs), Int32(width), input, Int32(width), layer.weights.storage,
        layer.bias.pointer,
        isLast ? 0 : 1, output, Int32(outputs), 0, Int32(outputs), gemm)
      precondition(status == 0, "decoder layer \(index)'s packed weights do not match its GEMM")
      if isLast { caps_sigmoid(output, count * outputs) }
      input = UnsafePointer(output)
      width = outputs
    }
  }

  /// Thread `index`'s part of `width` items split in `count` nearly equal contiguous parts.
  private func share(_ index: Int, of count: Int, width: Int) -> Range<Int> {
    (index * width / count)..<((index + 1) * width / count)
  }

  /// Columns of an N-wide GEMM that thread `index` of `count` computes (aligned for the kernel).
  private func columnShare(_ index: Int, of count: Int, width: Int) -> Range<Int> {
    let align = Int(caps_sgemm_n_align())
    let share = ((width + count - 1) / count + align - 1) / align * align
    let lower = min(width, index * share)
    return lower..<min(width, lower + share)
  }
}

extension InferenceSession: ParallelJob {
  func runShard(_ index: Int, of count: Int) {
    let c = network.configuration
    switch phase {
    case .wholeImages:
      let share = (batchCount + count - 1) / count
      let first = index * share
      let last = min(batchCount, first + share)
      guard first < last else { return }
      let scratch = threadScratch(index)
      var start = first
      while start < last {
        let group = min(plan.imagesPerGroup, last - start)
        im2colConv1(first: start, count: group, scratch: scratch)
        gemmConv1(count: group, scratch: scratch, columns: 0..<c.conv1Channels)
        im2colConv2(count: group, scratch: scratch)
        gemmConv2(count: group, scratch: scratch, columns: 0..<c.primaryChannels)
        capsules(first: start, count: group, scratch: scratch)
        start += group
      }
      decode(first: first, count: last - first, scratch: scratch)
    case .predictionInputs:
      let inputs = share(index, of: count, width: c.inputCapsules)
      guard !inputs.isEmpty else { return }
      predictions(count: groupCount, scratch: threadScratch(0), inputs: inputs)
    case .routingOutputs:
      let outputs = share(index, of: count, width: c.outputCapsules)
      guard !outputs.isEmpty else { return }
      let scratch = threadScratch(0)
      for q in 0..<groupCount { route(image: groupStart + q, q: q, scratch: scratch, outputs: outputs) }
    case .conv1Columns, .conv2Columns:
      let isConv1 = phase == .conv1Columns
      let columns = columnShare(index, of: count, width: isConv1 ? c.conv1Channels : c.primaryChannels)
      guard !columns.isEmpty else { return }
      // Every thread's GEMM reads thread 0's im2col matrix and writes its own columns of thread 0's output;
      // each uses its own panel scratch.
      var scratch = threadScratch(0)
      scratch.gemm = gemmPanels(index)
      if isConv1 {
        gemmConv1(count: groupCount, scratch: scratch, columns: columns)
      } else {
        gemmConv2(count: groupCount, scratch: scratch, columns: columns)
      }
    }
  }
}
