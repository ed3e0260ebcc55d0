import ArgumentParser
import CapsFiles
import CapsFormat
import CapsImage
import CapsRuntime
import CapsToolSupport
import Foundation

/// `capsinfer`: classify PNG digit files in batches with a capsule network.
@main
struct CapsInfer: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "capsinfer",
    abstract: "Classify PNG digit images with a capsule network (built-in: the standard MNIST model).",
    discussion: """
      Inputs are PNG files, directories (their *.png files, sorted by name; --recursive descends) and \
      '-', which reads paths from standard input, one per line (find DIR -name '*.png' | capsinfer -). \
      Explicitly named files are always attempted; other files in a directory are skipped and counted. \
      Rows come out in input order.

      Output: a table (top-k labels and capsule lengths, then a summary line), or one record per file \
      with --format csv|jsonl: file, prediction, length_<label> for every class (shortest round-trip \
      float), error (empty or absent when the file was classified; jsonl adds top_k). A file that cannot \
      be read or decoded gets an error row and one line on standard error; the others are still \
      classified. Capsule lengths are per-class scores in [0, 1), not probabilities.

      File names are bytes: a name that is not UTF-8 is read as given and printed with \\xHH escapes \
      in the table and on standard error, as its exact bytes in CSV, and with \\udcHH escapes in \
      JSON (Python's surrogateescape: os.fsencode gives the bytes back).

      Exit codes: 0 every file classified; 1 some file failed, a named directory held no PNG file, \
      or no file was given (or the model could not be loaded); 64 bad usage.
      """)

  /// Parses the command line as bytes (``CapsFiles/FileName``), so that non-UTF-8 paths survive.
  static func main() {
    InterruptCleanup.install(ignoringBrokenPipes: true)
    main(Array(FileName.arguments.dropFirst()))
  }

  @Argument(help: "PNG files, directories, or - to read paths from standard input (one per line).")
  var paths: [String] = []

  @Flag(name: .shortAndLong, help: "Descend into subdirectories of the directories given.")
  var recursive = false

  @Option(
    help: ArgumentHelp(
      "A model: a 'capsconv import' output, a PyTorch-exported state_dict HDF5 or a torch.save .pth checkpoint (default: the built-in standard MNIST model).",
      valueName: "file"))
  var model: String?

  @Option(
    help: ArgumentHelp(
      "How an image that is not 28x28 becomes the model input: mnist (crop to the ink, fit in 20x20, centre the mass), scale (area-average the whole image; for integer enlargements) or none (reject other sizes). Default: mnist.",
      valueName: "mode"),
    completion: .list(DigitPreprocessing.allCases.map(\.rawValue)),
    transform: { text in
      guard let mode = DigitPreprocessing(rawValue: text) else {
        throw ValidationError("--preprocess takes mnist, scale or none (got '\(text)')")
      }
      return mode
    })
  var preprocess: DigitPreprocessing = .mnist

  @Option(
    help: ArgumentHelp(
      "How transparent pixels are read: auto (a transparent canvas means the alpha channel is the drawing; other transparency is composited over the border colour), ink (alpha is the drawing), over-black or over-white. Default: auto.",
      valueName: "mode"),
    completion: .list(AlphaHandling.allCases.map(\.rawValue)),
    transform: { text in
      guard let mode = AlphaHandling(rawValue: text) else {
        throw ValidationError("--alpha takes auto, ink, over-black or over-white (got '\(text)')")
      }
      return mode
    })
  var alpha: AlphaHandling = .auto

  @Flag(
    inversion: .prefixedNo, exclusivity: .exclusive,
    help: """
      Always invert (--invert: dark ink on a light background) or never (--no-invert). \
      Default: invert when the border pixels are mostly light.
      """)
  var invert: Bool?

  @Option(help: "Output format: table, csv or jsonl.")
  var format: OutputFormat = .table

  @Option(
    name: .customLong("top-k"),
    help: ArgumentHelp(
      "Labels shown per file, best first: table columns and the jsonl top_k field (default 2).",
      valueName: "k"))
  var topK: Int?

  @Option(
    help: ArgumentHelp(
      "Write <dir>/<name>.recon.png per classified file: the model's input beside the decoder's reconstruction (56x28).",
      valueName: "dir"))
  var reconstruct: String?

  @Option(
    help: ArgumentHelp(
      "Write <dir>/<name>.perturb.png per classified file: the decoder's reconstructions with one dimension of the predicted capsule offset (a row per dimension, a column per offset; the unperturbed column framed).",
      valueName: "dir"))
  var perturb: String?

  @Option(
    name: .customLong("perturb-range"),
    help: ArgumentHelp("With --perturb: offsets run from -r to +r (default 0.25).", valueName: "r"))
  var perturbRange: Double?

  @Option(
    name: .customLong("perturb-step"),
    help: ArgumentHelp("With --perturb: the spacing of the offsets (default 0.05).", valueName: "s"))
  var perturbStep: Double?

  @Option(
    name: .customLong("contact-sheet"),
    help: ArgumentHelp(
      "Write one PNG of the first inputs (see --contact-sheet-limit) beside their reconstructions, captioned with the predicted label and length; low lengths (< 0.5) and unclassified files are marked.",
      valueName: "file"))
  var contactSheet: String?

  @Option(
    name: .customLong("contact-sheet-limit"),
    help: ArgumentHelp("With --contact-sheet: inputs on the sheet, 1...10000 (default 100).", valueName: "n"))
  var contactSheetLimit: Int?

  @Flag(
    help:
      "With --reconstruct, --perturb or --contact-sheet: replace existing files (only regular files, never an input of this run)."
  )
  var force = false

  @Option(
    help: ArgumentHelp(
      "Images per inference batch (default: 32, or 4 per inference thread when that is more); the next batch is decoded while this one runs.",
      valueName: "n"))
  var batchSize: Int?

  @Option(help: "Inference threads, 1...64 (default: one per processor, at most 16).")
  var threads: Int?

  @Option(
    help: """
      Arithmetic of the convolutions: fp32, or int8 (faster; weights quantized per output channel \
      at load, activations per image; routing in fp32; agrees with fp32 on >= 99.5% of digits).
      """)
  var precision = "fp32"

  func validate() throws {
    guard !paths.isEmpty else {
      throw ValidationError("give PNG files, directories, or - to read paths from standard input")
    }
    guard paths.filter({ $0 == "-" }).count <= 1 else {
      throw ValidationError("'-' (read paths from standard input) may be given only once")
    }
    if let batchSize, !(1...4096).contains(batchSize) {
      throw ValidationError("--batch-size takes 1...4096")
    }
    if let threads, !(1...InferencePlan.maximumThreads).contains(threads) {
      throw ValidationError("--threads takes 1...\(InferencePlan.maximumThreads)")
    }
    guard Precision(rawValue: precision) != nil else {
      throw ValidationError("--precision takes fp32 or int8")
    }
    if let topK {
      guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
      guard format != .csv else {
        throw ValidationError("--top-k applies to --format table and jsonl (csv has every class's length)")
      }
    }
    if let reconstruct, reconstruct.isEmpty { throw ValidationError("--reconstruct needs a directory") }
    if let perturb, perturb.isEmpty { throw ValidationError("--perturb needs a directory") }
    if let contactSheet, contactSheet.isEmpty { throw ValidationError("--contact-sheet needs a file name") }
    if force && reconstruct == nil && perturb == nil && contactSheet == nil {
      throw ValidationError("--force applies to --reconstruct, --perturb and --contact-sheet")
    }
    if (perturbRange != nil || perturbStep != nil) && perturb == nil {
      throw ValidationError("--perturb-range and --perturb-step apply to --perturb")
    }
    let range = perturbRange ?? 0.25
    let step = perturbStep ?? 0.05
    guard range.isFinite, range > 0, range <= 100 else {
      throw ValidationError("--perturb-range takes a number in (0, 100]")
    }
    guard step.isFinite, step > 0, step <= range else {
      throw ValidationError("--perturb-step takes a number in (0, range]")
    }
    let columns = 2 * PerturbationLayout.halfColumns(range: range, step: step) + 1
    guard columns <= PerturbationLayout.maximumColumns else {
      throw ValidationError(
        "--perturb-range/--perturb-step give \(columns) columns; at most \(PerturbationLayout.maximumColumns)"
      )
    }
    if contactSheetLimit != nil && contactSheet == nil {
      throw ValidationError("--contact-sheet-limit applies to --contact-sheet")
    }
    if let contactSheetLimit, !(1...10_000).contains(contactSheetLimit) {
      throw ValidationError("--contact-sheet-limit takes 1...10000")
    }
  }

  func run() throws {
    let network = try loadNetwork()
    let c = network.configuration
    let imageSize = c.inputSize * c.inputSize
    guard c.inputChannels == 1 else {
      printError(
        "\(modelName): the model takes \(c.inputChannels)-channel images; capsinfer classifies grayscale digits"
      )
      throw ExitCode.failure
    }
    if let topK, topK > c.outputCapsules {
      printError(
        "--top-k \(topK) is more than the \(c.outputCapsules) classes of \(FileName.display(modelName))")
      throw ExitCode.validationFailure
    }
    var runFiles: RunFiles?
    var pictures = Pictures(force: force)
    if reconstruct != nil || perturb != nil || contactSheet != nil {
      guard c.decoderWidths.last == imageSize else {
        let option = reconstruct != nil ? "--reconstruct" : perturb != nil ? "--perturb" : "--contact-sheet"
        printError(
          "\(FileName.display(modelName)): the model has no decoder producing \(c.inputSize)x\(c.inputSize) images; \(option) needs one"
        )
        throw ExitCode.validationFailure
      }
      runFiles = RunFiles(namedInputs: paths)
    }
    let threadCount = threads ?? InferencePlan.defaultThreadCount
    // Measured on 2 cores: 8 to 128 images per batch cost the same CPU time per image; 4 per thread
    // keeps every thread's convolution group full on larger machines. No larger than the number of
    // inputs when only files are given (one digit plans for one image), and halved until the
    // arena fits its limit.
    var batchSize = self.batchSize ?? max(32, 4 * threadCount)
    if let files = InputPaths.countIfOnlyFiles(paths) { batchSize = max(1, min(batchSize, files)) }
    let plan: InferencePlan
    do {
      plan = try InferencePlan.fitting(
        network: network, maxBatch: batchSize, threads: threadCount,
        precision: Precision(rawValue: precision) ?? .fp32)
    } catch {
      printError("\(modelName): \(error.description)")
      throw ExitCode.failure
    }
    batchSize = plan.maxBatch
    if let runFiles {
      try preparePictures(&pictures, network: network, maxBatch: plan.maxBatch, runFiles: runFiles)
    }
    let session = InferenceSession(network: network, plan: plan)
    let decoder = BatchDecoder(
      inputs: InputPaths(arguments: paths, recursive: recursive, outputs: runFiles),
      settings: .init(
        preprocessing: preprocess, polarity: invert.map { $0 ? .invert : .keep } ?? .auto, alpha: alpha,
        size: c.inputSize),
      batchSize: batchSize)
    let formatter = ResultFormatter(
      format: format, labels: network.metadata.classLabels, topK: min(topK ?? 2, c.outputCapsules))
    let console = Console(progress: Progress(total: InputPaths.countIfOnlyFiles(paths)))

    do {
      let tally = try classify(
        decoder: decoder, session: session, formatter: formatter, pictures: pictures, console: console)
      if tally.processed == 0 {
        printError("no files to classify")
        throw ExitCode.failure
      }
      if let sheet = pictures.contactSheet, !writeContactSheet(sheet) { throw ExitCode.failure }
      if tally.failed > 0 { throw ExitCode.failure }
    } catch let error as StandardOutputError {
      printError(error.description)
      throw ExitCode.failure
    }
  }

  /// Runs the pipeline to the end: the decoder fills batches on its thread while this one runs the
  /// session on the previous batch and prints its rows. With reconstructions, a batch's rows wait
  /// until its pictures are written, which happens while the next batch runs.
  private func classify(
    decoder: BatchDecoder, session: InferenceSession, formatter: ResultFormatter,
    pictures: Pictures, console: Console
  ) throws(StandardOutputError) -> Tally {
    let start = DispatchTime.now()
    var tally = Tally()
    var text = ""
    func emit(_ rows: BatchRows) throws(StandardOutputError) {
      let writeFailures = rows.pictures?.wait() ?? [:]
      text.removeAll(keepingCapacity: true)
      for row in rows.rows {
        let failure = row.failure ?? row.image.flatMap { writeFailures[$0] }
        if let failure {
          tally.failed += 1
          console.error("\(FileName.display(row.path)): \(failure)")
        }
        if row.scores != nil { tally.classified += 1 }
        tally.processed += 1
        formatter.append(path: row.path, scores: row.scores, failure: failure, to: &text)
      }
      try console.writeRows(text)
      console.showProgress(done: tally.processed, failed: tally.failed, since: start)
    }

    try console.writeRows(formatter.header())
    decoder.start()
    var waiting: BatchRows?
    while let batch = decoder.next() {
      if batch.imageCount > 0 {
        batch.pixels.withUnsafeBufferPointer {
          session.run(batch: batch.imageCount, pixels: $0, reconstruct: pictures.needsReconstructions)
        }
      }
      let rows = BatchRows(
        rows: batch.entries.map { entry in
          switch entry.outcome {
          case .failed(let reason): BatchRows.Row(path: entry.path, failure: reason)
          case .image(let index):
            Self.row(path: entry.path, image: index, scores: Scores(session: session, image: index))
          }
        },
        pictures: pictures.submit(batch, session: session))
      decoder.recycle(batch)
      if let previous = waiting {
        try emit(previous)
        waiting = nil
      }
      if rows.pictures == nil { try emit(rows) } else { waiting = rows }
    }
    if let previous = waiting { try emit(previous) }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    try console.finish(
      summary: tally.summary(seconds: seconds, skipped: decoder.skipped), toStandardOutput: format == .table)
    return tally
  }

  /// A classified image's row; lengths that are not finite (weights or a normalisation that overflow
  /// Float) make an error row, never a prediction.
  private static func row(path: String, image: Int, scores: Scores) -> BatchRows.Row {
    guard scores.lengths.allSatisfy(\.isFinite) else {
      return BatchRows.Row(
        path: path,
        failure:
          "the model produced non-finite capsule lengths (NaN or infinity: its weights or normalisation overflow Float)"
      )
    }
    return BatchRows.Row(path: path, image: image, scores: scores)
  }

  /// Creates the writers of the picture options, checking their outputs before anything is classified.
  private func preparePictures(
    _ pictures: inout Pictures, network: CapsNetwork, maxBatch: Int, runFiles: RunFiles
  ) throws {
    let c = network.configuration
    // Sheets are bounded before anything is allocated for them (64 Mpixels, 256 MB of Float).
    let maximumPixels = 64 << 20
    do {
      if let reconstruct {
        pictures.reconstructions = try ReconstructionWriter(
          directory: reconstruct, size: c.inputSize, runFiles: runFiles)
      }
      if let perturb {
        let writer = try PerturbationWriter(
          directory: perturb, configuration: c, maxBatch: maxBatch, range: perturbRange ?? 0.25,
          step: perturbStep ?? 0.05, runFiles: runFiles)
        let (width, height) = (writer.layout.width, writer.layout.height)
        guard Self.fits(width, height, maximumPixels) else {
          printError("--perturb: a sheet would be \(width)x\(height) pixels, more than 64 Mpixels")
          throw ExitCode.failure
        }
        pictures.perturbations = writer
      }
    } catch let error as PictureDirectory.DirectoryError {
      printError(error.description)
      throw ExitCode.failure
    }
    if let contactSheet {
      let limit = contactSheetLimit ?? 100
      let (width, height) = ContactSheet.dimensions(count: limit, size: c.inputSize)
      guard Self.fits(width, height, maximumPixels) else {
        printError(
          "--contact-sheet: \(limit) inputs would make \(width)x\(height) pixels, more than 64 Mpixels; lower --contact-sheet-limit"
        )
        throw ExitCode.failure
      }
      if let refusal = runFiles.reserveOutput(contactSheet) {
        printError("\(FileName.display(contactSheet)) \(refusal)")
        throw ExitCode.failure
      }
      if !force, AtomicReplacement.status(of: contactSheet, followingLinks: false) != nil {
        printError("\(FileName.display(contactSheet)): already exists (--force replaces it)")
        throw ExitCode.failure
      }
      pictures.contactSheet = ContactSheet(
        path: contactSheet, limit: limit, size: c.inputSize, labels: network.metadata.classLabels)
    }
  }

  /// Whether a `width`x`height` picture has at most `limit` pixels (false on overflow).
  private static func fits(_ width: Int, _ height: Int, _ limit: Int) -> Bool {
    let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
    return !overflow && pixels <= limit
  }

  /// Writes the contact sheet; false (after one stderr line) when it could not be written.
  private func writeContactSheet(_ sheet: ContactSheet) -> Bool {
    guard sheet.count > 0 else { return true }
    do {
      try ImageFile.writePNG(try sheet.picture(), toPath: sheet.path, overwrite: force)
      return true
    } catch let error as ImageError {
      printError(
        "contact sheet not written: " + ForceHint.adding(to: error.description, kind: error.kind))
    } catch {
      printError("contact sheet not written: \(FileName.display(sheet.path)): \(error)")
    }
    return false
  }

  private var modelName: String { model ?? "built-in model" }

  /// Loads `--model` or the built-in model; one stderr line and exit 1 when that fails.
  private func loadNetwork() throws -> CapsNetwork {
    let path: String
    if let model {
      path = model
    } else {
      switch BuiltinModel.locate() {
      case .success(let found): path = found
      case .failure(let problem):
        printError(problem.message)
        throw ExitCode.failure
      }
    }
    do {
      let (loaded, provenance) = try ModelFile.read(at: path)
      if model != nil, !provenance.hasMetadata {
        let converted =
          provenance.layout == .reference
          ? "" : "\(provenance.layout.implementation) checkpoint converted to the reference layout; "
        printError(
          "\(FileName.display(path)): \(converted)no CapsKit metadata; imported in memory with default metadata "
            + "(\(loaded.metadata.summary))"
            + (provenance.primaryOrder.map {
              "; primary capsules assumed \($0.rawValue), which a checkpoint cannot show (capsconv import --primary-order)"
            } ?? ""))
      }
      return CapsNetwork(loaded)
    } catch {
      printError(error.description)
      throw ExitCode.failure
    }
  }
}

/// How the result rows are printed.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case table, csv, jsonl
}

/// The results of one batch, waiting to be printed.
private struct BatchRows {
  struct Row {
    var path: String
    /// The image's index in its batch, when decoded.
    var image: Int?
    var scores: Scores?
    /// Why the file could not be read or decoded.
    var failure: String?
  }

  var rows: [Row]
  /// The batch's reconstructions being written, with --reconstruct.
  var pictures: PictureJob?
}

/// The picture options of a run (--reconstruct, --perturb, --contact-sheet).
private struct Pictures {
  let force: Bool
  var reconstructions: ReconstructionWriter?
  var perturbations: PerturbationWriter?
  var contactSheet: ContactSheet?

  var needsReconstructions: Bool { reconstructions != nil || perturbations != nil || contactSheet != nil }

  /// Composes the pictures of `batch` from the session's last run and starts writing its files;
  /// nil when this batch writes no file.
  func submit(_ batch: Batch, session: InferenceSession) -> PictureJob? {
    contactSheet?.collect(batch, session: session)
    guard batch.imageCount > 0, reconstructions != nil || perturbations != nil else { return nil }
    let job = PictureJob(force: force)
    reconstructions?.submit(batch, session: session, to: job)
    perturbations?.submit(batch, session: session, to: job)
    job.start()
    return job
  }
}

/// Files seen, classified and failed so far (a file whose reconstruction could not be written is
/// both classified and failed).
private struct Tally {
  var processed = 0
  var classified = 0
  var failed = 0

  func summary(seconds: Double, skipped: SkipCounts) -> String {
    var text =
      "\(classified) \(classified == 1 ? "file" : "files") classified, \(failed) failed in "
      + String(format: "%.2f s (%.1f images/s)", seconds, seconds > 0 ? Double(classified) / seconds : 0)
    if let note = skipped.description { text += "; skipped \(note)" }
    return text
  }
}

extension ModelMetadata {
  /// The settings a model without metadata gets, in one line.
  var summary: String {
    let axis = softmaxAxis == .inputCapsules ? "input" : "output"
    let labels =
      classLabels.count > 3
      ? "\(classLabels[0])...\(classLabels[classLabels.count - 1])"
      : classLabels.joined(separator: ",")
    return
      "\(routingIterations) routing iterations, softmax over \(axis) capsules, squash epsilon "
      + "\(squashEpsilon), input (x/255 - "
      + "\(normalization.mean)) / \(normalization.std), labels \(labels)"
  }
}

extension Scores {
  /// The result for image `image` of the session's last run.
  init(session: InferenceSession, image: Int) {
    self.init(
      prediction: session.prediction(at: image),
      lengths: (0..<session.network.configuration.outputCapsules).map {
        session.length(at: image, capsule: $0)
      })
  }
}
