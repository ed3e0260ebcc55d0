import ArgumentParser
import CapsExport
import CapsFiles
import CapsFormat
import CapsHDF5Writer
import CapsToolSupport

extension CapsConv {
  /// `capsconv export`: a model to a state_dict (HDF5 or .pth, reference or gram-ai layout), Keras
  /// weights or an ONNX inference graph (CapsExport; docs/EXPORT.md).
  struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write a model as a state_dict (.h5/.pth), Keras weights or an ONNX graph.",
      discussion: """
        The format comes from the output's extension (.h5/.hdf5, .pth/.pt, .onnx) unless --format gives it. \
        h5 and pth hold a state_dict without metadata in the reference (default) or gram-ai layout; keras \
        writes CapsNet-Keras's save_weights HDF5 structure; onnx the whole inference graph (opset 17, \
        input raw pixels [N,C,H,W]). A gram-ai or Keras file is refused when that implementation computes \
        differently from the model (softmax axis, squash epsilon, normalisation, ...) unless \
        --allow-differences is given. See docs/EXPORT.md.
        """)

    @Argument(help: "A CapsKit model file (or any readable checkpoint).")
    var model: String

    @Option(name: .shortAndLong, help: "Output file.")
    var output: String

    @Option(help: "h5, pth, onnx or keras (default: from the output's extension).")
    var format: String?

    @Option(help: "Layout of the weights: reference (default), gram-ai or keras.")
    var layout: String?

    @Flag(help: "Write a gram-ai or Keras file even where that implementation computes differently (warned).")
    var allowDifferences = false

    @Flag(help: "Replace an existing output file.")
    var force = false

    func run() throws {
      InterruptCleanup.install()
      let target: ExportTarget
      do throws(ExportError) {
        var chosenFormat: ExportFormat?
        if let format {
          guard let parsed = ExportFormat(rawValue: format) else {
            throw ExportError(kind: .usage, reason: "unknown format '\(format)'; use h5, pth, onnx or keras")
          }
          chosenFormat = parsed
        }
        var chosenLayout: CheckpointLayout?
        if let layout {
          guard let parsed = CheckpointLayout(rawValue: layout) else {
            throw ExportError(
              kind: .usage, reason: "unknown layout '\(layout)'; use reference, gram-ai or keras")
          }
          chosenLayout = parsed
        }
        target = try ExportTarget(path: output, format: chosenFormat, layout: chosenLayout)
      } catch {
        printError(error.description)
        throw ExitCode(64)
      }
      try reportingInvalidInput {
        guard canonicalPath(output) != canonicalPath(model) else {
          throw FormatError(.sameAsInput, path: output, detail: "is the input file; choose another output")
        }
        let (loaded, _) = try ModelFile.read(at: model)
        let report: ModelExporter.Report
        do throws(ExportError) {
          report = try ModelExporter.export(
            loaded, to: output, target: target, overwrite: force, allowDifferences: allowDifferences)
        } catch {
          // A file error names the file already.
          printError(error.kind == .file ? error.reason : "\(FileName.display(output)): \(error.reason)")
          throw error.kind == .usage ? ExitCode(64) : Exit.invalidInput
        }
        for warning in report.warnings { printError("warning: \(warning)") }
        for note in report.notes { printError("note: \(note)") }
        let what = target.format == .onnx ? "ONNX graph (opset 17)" : "\(target.layout.rawValue) layout"
        print(
          "wrote \(FileName.display(output)): \(target.format.rawValue), \(what), \(report.tensorCount) tensors, \(grouped(loaded.configuration.parameterCount)) parameters"
        )
      }
    }
  }
}
