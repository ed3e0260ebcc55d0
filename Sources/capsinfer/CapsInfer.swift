import ArgumentParser
import CapsFiles
import CapsFormat
import CapsImage
import CapsRuntime
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

  @Flag(
    help:
      "With --reconstruct: replace existing .recon.png files (only regular files, never an input of this run)."
  )
  var force = false

  @Option(
    help: ArgumentHelp(
      "Images per inference batch (default: 32, or 4 per inference thread when that is more); the next batch is decoded while this one runs.",
      valueName: "n"))
  var batchSize: Int?

  @Option(help: "Inference threads, 1...64 (default: one per processor, at most 16).")
  var threads: Int?

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
    if let topK {
      guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
      guard format != .csv else {
        throw ValidationError("--top-k applies to --format table and jsonl (csv has every class's length)")
      }
    }
    if let reconstruct, reconstruct.isEmpty { throw ValidationError("--reconstruct needs a directory") }
    if force && reconstruct == nil { throw ValidationError("--force applies to --reconstruct") }
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
    var reconstructions: ReconstructionWriter?
    var runFiles: RunFiles?
    if let reconstruct {
      guard c.decoderWidths.last == imageSize else {
        printError(
          "\(FileName.display(modelName)): the model has no decoder producing \(c.inputSize)x\(c.inputSize) images"
        )
        throw ExitCode.validationFailure
      }
      do {
        let files = RunFiles(namedInputs: paths)
        runFiles = files
        reconstructions = try ReconstructionWriter(
          directory: reconstruct, size: c.inputSize, force: force, runFiles: files)
      } catch {
        printError(error.description)
        throw ExitCode.failure
      }
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
      plan = try InferencePlan.fitting(network: network, maxBatch: batchSize, threads: threadCount)
    } catch {
      printError("\(modelName): \(error.description)")
      throw ExitCode.failure
    }
    batchSize = plan.maxBatch
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
        decoder: decoder, session: session, formatter: formatter, reconstructions: reconstructions,
        console: console)
      if tally.processed == 0 {
        printError("no files to classify")
        throw ExitCode.failure
      }
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
    reconstructions: ReconstructionWriter?, console: Console
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
          session.run(batch: batch.imageCount, pixels: $0, reconstruct: reconstructions != nil)
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
        pictures: batch.imageCount > 0 ? reconstructions?.submit(batch, session: session) : nil)
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
  var pictures: ReconstructionWriter.Job?
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
