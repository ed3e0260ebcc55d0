import ArgumentParser
import CapsFiles
import CapsFormat
import CapsHDF5Writer
import CapsToolSupport

extension CapsConv {
  /// `capsconv export`: a model file back to a plain state_dict HDF5.
  struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write a model's weights as a plain state_dict HDF5 (no metadata), loadable by PyTorch.")

    @Argument(help: "A CapsKit model file (or any readable checkpoint).")
    var model: String

    @Option(name: .shortAndLong, help: "Output HDF5 file.")
    var output: String

    @Flag(help: "Replace an existing output file.")
    var force = false

    func run() throws {
      InterruptCleanup.install()
      try reportingInvalidInput {
        guard canonicalPath(output) != canonicalPath(model) else {
          throw FormatError(.sameAsInput, path: output, detail: "is the input file; choose another output")
        }
        let (loaded, _) = try ModelFile.read(at: model)
        try ModelFile.writeStateDict(loaded, to: output, overwrite: force)
        print(
          "wrote \(FileName.display(output)): \(loaded.orderedKeys.count) tensors, \(grouped(loaded.configuration.parameterCount)) parameters"
        )
      }
    }
  }
}
