import ArgumentParser
internal import CCapsBuildInfo
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
      Inputs are PNG files, directories (their *.png files, sorted by name; --recursive descends), \
      '-', which reads paths from standard input, one per line (find DIR -name '*.png' | capsinfer -), \
      and --files-from FILE, the same from a file. Explicitly named files are always attempted; other \
      files in a directory are skipped and counted. Rows come out in input order. --shard K/N keeps \
      the inputs whose path hashes to K (FNV-1a 64 of the path bytes, modulo N).

      Output (standard output, or -o FILE): a table (top-k labels and capsule lengths), or one record \
      per file with --format csv|jsonl: file, prediction (the label), class_index, length_0 ... \
      length_<C-1> by class index (shortest round-trip float), error (empty or absent when the file \
      was classified; jsonl adds top_k). A file that cannot be read or decoded gets an error row and \
      one line on standard error; the others are still classified. The summary (and, on a terminal, \
      a progress line with the time left) goes to standard error; --quiet drops both. Capsule lengths \
      are per-class scores in [0, 1), not probabilities.

      -o FILE is written to a temporary file renamed at the end (nothing on failure or Ctrl-C); with \
      --resume it is appended to batch by batch instead, and a rerun skips the inputs whose rows it \
      already holds.

      File names are bytes: a name that is not UTF-8 is read as given and printed with \\xHH escapes \
      in the table and on standard error, as its exact bytes in CSV, and with \\udcHH escapes in \
      JSON (Python's surrogateescape: os.fsencode gives the bytes back).

      Exit codes: 0 every file classified; 1 some file failed, a named directory held no PNG file, \
      no file was given, the model could not be loaded, or the output could not be written; 64 bad \
      usage (including inconsistent --shard-from-env variables).
      """,
    version: "capsinfer " + String(cString: capskit_version_line()))

  /// Parses the command line as bytes (``CapsFiles/FileName``), so that non-UTF-8 paths survive.
  static func main() {
    InterruptCleanup.install(ignoringBrokenPipes: true)
    main(Array(FileName.arguments.dropFirst()))
  }

  @Argument(help: "PNG files, directories, or - to read paths from standard input (one per line).")
  var paths: [String] = []

  @Option(
    name: .customLong("files-from"),
    help: ArgumentHelp(
      "Also classify the paths listed in FILE, one per line ('-': standard input), after the paths given; read as they come, nothing is kept per path.",
      valueName: "file"))
  var filesFrom: String?

  @Option(
    help: ArgumentHelp(
      "Classify only shard K of N (0 <= K < N): the inputs whose path, as given or listed, has an FNV-1a 64-bit hash equal to K modulo N. The N shards are disjoint and together make the unsharded run.",
      valueName: "K/N"))
  var shard: String?

  @Flag(
    name: .customLong("shard-from-env"),
    help:
      "Take the shard from a Slurm job array (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX of --shards N); inconsistent values are a usage error."
  )
  var shardFromEnv = false

  @Option(
    help: ArgumentHelp(
      "With --shard-from-env: the number of shards N (required with JOB_COMPLETION_INDEX; with Slurm, instead of SLURM_ARRAY_TASK_COUNT).",
      valueName: "n"))
  var shards: Int?

  @Option(
    name: .shortAndLong,
    help: ArgumentHelp(
      "Write the rows to FILE instead of standard output, through a temporary file renamed at the end (no file on failure or interruption). An existing file is replaced only with --force, and never an input of the run.",
      valueName: "file"))
  var output: String?

  @Flag(
    help:
      "With -o FILE and --format csv or jsonl: keep the rows already in FILE (a torn last row is cut off and redone), skip their inputs and append the other rows, batch by batch."
  )
  var resume = false

  @Flag(
    name: .shortAndLong, help: "No progress line and no summary (per-file errors still go to standard error)."
  )
  var quiet = false

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
    guard !paths.isEmpty || filesFrom != nil else {
      throw ValidationError("give PNG files, directories, or - to read paths from standard input")
    }
    guard paths.filter({ $0 == "-" }).count <= 1 else {
      throw ValidationError("'-' (read paths from standard input) may be given only once")
    }
    if let filesFrom {
      guard !filesFrom.isEmpty else {
        throw ValidationError("--files-from needs a file name ('-': standard input)")
      }
      if filesFrom == "-" && paths.contains("-") {
        throw ValidationError("standard input can be read once: give '-' or --files-from -, not both")
      }
    }
    if let output, output.isEmpty { throw ValidationError("--output needs a file name") }
    if resume {
      guard output != nil else { throw ValidationError("--resume needs -o FILE (the output to continue)") }
      guard format != .table else { throw ValidationError("--resume takes --format csv or jsonl") }
    }
    _ = try resolvedShard()
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
    if force && (output == nil || resume) && reconstruct == nil && perturb == nil && contactSheet == nil {
      throw ValidationError(
        resume
          ? "--resume appends to the -o file; --force (replace it) applies to -o without --resume"
          : "--force applies to -o, --reconstruct, --perturb and --contact-sheet")
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
    if filesFrom == nil, let files = InputPaths.countIfOnlyFiles(paths) {
      batchSize = max(1, min(batchSize, files))
    }
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
    let shard = try resolvedShard()
    let settings = BatchDecoder.Settings(
      preprocessing: preprocess, polarity: invert.map { $0 ? .invert : .keep } ?? .auto, alpha: alpha,
      size: c.inputSize)
    let formatter = ResultFormatter(
      format: format, labels: network.metadata.classLabels, topK: min(topK ?? 2, c.outputCapsules))
    var filter = InputFilter(shard: shard, format: format)
    let manifest = try openManifest()
    defer { if let manifest, manifest.descriptor != STDIN_FILENO { close(manifest.descriptor) } }
    if let output { try refuseNamedInput(output) }
    let inputs = InputPaths(arguments: paths, recursive: recursive, manifest: manifest, outputs: runFiles)
    let pipeline = Pipeline(session: session, formatter: formatter, pictures: pictures, quiet: quiet)
    let decoder = { [batchSize] (filter: InputFilter) in
      BatchDecoder(inputs: inputs, filter: filter, settings: settings, batchSize: batchSize)
    }
    /// The progress bar's total, counted only when a progress line can appear.
    func progressTotal(alreadyDone: Int) -> Int? {
      guard !quiet, Progress.possible else { return nil }
      return InputPaths.countForProgress(arguments: paths, manifest: filesFrom, shard: shard).map {
        max(0, $0 - alreadyDone)
      }
    }

    let outcome: Pipeline.Outcome
    do {
      switch (output, resume) {
      case (nil, _):
        outcome = try pipeline.run(
          decoder(filter), sink: .standardOutput, progressTotal: progressTotal(alreadyDone: 0))
        try outcome.requireInputs()
      case (let path?, false):
        if force { filter.protected = FileIdentity(path) }
        var finished: Pipeline.Outcome?
        try AtomicReplacement.write(
          to: path, overwrite: force, failure: { RunStop("\(FileName.display(path)): \($0)") },
          produce: { temporary throws(RunStop) in
            let descriptor = TemporaryFiles.createExclusively(temporary)
            guard descriptor >= 0 else {
              throw RunStop(
                "\(FileName.display(path)): cannot create a temporary file beside it (\(ReadableFile.errnoText(errno)))"
              )
            }
            defer { close(descriptor) }
            let result = try pipeline.run(
              decoder(filter), sink: RowSink(descriptor: descriptor, name: path),
              progressTotal: progressTotal(alreadyDone: 0))
            try result.requireInputs()
            if result.filter.outputWasInput {
              throw RunStop("\(FileName.display(path)): is an input of this run; not replaced")
            }
            finished = result
          })
        outcome = finished!
      case (let path?, true):
        let resumed: ResumedOutput
        do {
          resumed = try ResumedOutput.open(path: path, format: format, classes: c.outputCapsules)
        } catch {
          throw RunStop(error.description)
        }
        defer { close(resumed.descriptor) }
        filter.done = resumed.done
        filter.protected = resumed.identity
        if resumed.droppedBytes > 0 {
          printError(
            "\(FileName.display(path)): cut off a torn last row (\(resumed.droppedBytes) bytes); its input is redone"
          )
        }
        outcome = try pipeline.run(
          decoder(filter), sink: RowSink(descriptor: resumed.descriptor, name: path),
          progressTotal: progressTotal(alreadyDone: resumed.done.rowCount), writeHeader: false)
        try outcome.requireInputs()
        guard fsync(resumed.descriptor) == 0 else {
          throw RunStop("\(FileName.display(path)): cannot flush to disk (\(ReadableFile.errnoText(errno)))")
        }
      }
    } catch let stop as RunStop {
      pipeline.console.error(stop.description)
      throw ExitCode.failure
    }
    pipeline.console.finish(summary: outcome.summary(shard: shard, resumedFile: resume ? output : nil))
    if let sheet = pictures.contactSheet, !writeContactSheet(sheet) { throw ExitCode.failure }
    if outcome.tally.failed > 0 { throw ExitCode.failure }
  }

  /// The shard of this run (--shard, --shard-from-env), or nil; a usage error when inconsistent.
  private func resolvedShard() throws -> Shard? {
    if shards != nil && !shardFromEnv { throw ValidationError("--shards applies to --shard-from-env") }
    if shard != nil && shardFromEnv {
      throw ValidationError("give --shard K/N or --shard-from-env, not both")
    }
    do {
      if let shard { return try Shard.parse(shard) }
      if shardFromEnv {
        return try Shard.fromEnvironment(ProcessInfo.processInfo.environment, shards: shards)
      }
    } catch {
      throw ValidationError(error.description)
    }
    return nil
  }

  /// Opens the --files-from list (any readable file, a FIFO too; `-` is standard input).
  private func openManifest() throws -> (descriptor: Int32, name: String)? {
    guard let filesFrom else { return nil }
    if filesFrom == "-" { return (STDIN_FILENO, "standard input") }
    let descriptor = FileName.withCString(filesFrom) { openForReading($0) }
    guard descriptor >= 0 else {
      printError(
        "\(FileName.display(filesFrom)): cannot open the --files-from list (\(ReadableFile.errnoText(errno)))"
      )
      throw ExitCode.failure
    }
    return (descriptor, filesFrom)
  }

  /// Refuses an -o file that is a file named on the command line or the --files-from list (an input
  /// reached through a directory or a list is refused as it comes, by ``InputFilter``).
  private func refuseNamedInput(_ output: String) throws {
    let identity = FileIdentity(output)
    let canonical = FileName.canonical(output)
    for input in paths + [filesFrom].compactMap({ $0 }) where input != "-" {
      if FileName.canonical(input) == canonical || (identity != nil && FileIdentity(input) == identity) {
        printError("\(FileName.display(output)): is an input of this run; -o never writes over an input")
        throw ExitCode.failure
      }
    }
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

/// The picture options of a run (--reconstruct, --perturb, --contact-sheet).
struct Pictures {
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
