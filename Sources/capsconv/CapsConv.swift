import ArgumentParser
internal import CCapsBuildInfo
import CapsFiles
import CapsFormat
import CapsRuntime
import CapsToolSupport
import CapsVerify
import Foundation

/// `capsconv`: convert, inspect, export, verify and benchmark capsule-network models.
@main
struct CapsConv: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "capsconv",
    abstract: "Convert, inspect, export, verify and benchmark capsule-network models.",
    discussion: """
      Models are CapsKit model files (capsconv import) or checkpoints read in memory: torch.save \
      .pth files, PyTorch state_dicts exported to HDF5, gram-ai and CapsNet-Keras layouts.

      Exit codes: 0 success; 1 invalid input (one line on stderr names the file and the problem); \
      2 verification mismatch; 64 bad usage.
      """,
    version: "capsconv " + String(cString: capskit_version_line()),
    subcommands: [Import.self, Inspect.self, Export.self, Verify.self, Bench.self])

  /// Parses the command line as bytes (``CapsFiles/FileName``), so that non-UTF-8 paths survive.
  static func main() {
    main(Array(FileName.arguments.dropFirst()))
  }
}

/// Exit codes shared by the subcommands.
enum Exit {
  static let invalidInput = ExitCode(1)
  static let mismatch = ExitCode(2)
}

/// Prints one line to standard error (file-name bytes that are not UTF-8 as `\xHH`).
func printError(_ message: String) {
  FileHandle.standardError.write(Data(("capsconv: " + FileName.display(message) + "\n").utf8))
}

/// Runs `body`, turning format and verification errors into one stderr line and exit code 1.
func reportingInvalidInput<T>(_ body: () throws -> T) throws -> T {
  do {
    return try body()
  } catch let error as FormatError {
    printError(ForceHint.adding(to: error.description, kind: error.kind))
    throw Exit.invalidInput
  } catch let error as VerificationError {
    printError(error.description)
    throw Exit.invalidInput
  }
}

/// `--threads` of verify and bench: 1...`InferencePlan.maximumThreads`.
func validateThreads(_ threads: Int?) throws {
  if let threads, !(1...InferencePlan.maximumThreads).contains(threads) {
    throw ValidationError("--threads takes 1...\(InferencePlan.maximumThreads)")
  }
}

/// `--convolution` of verify and bench: auto, direct or winograd.
func validateConvolution(_ option: String, precision: String) throws {
  guard option == "auto" || ConvolutionAlgorithm(rawValue: option) != nil else {
    throw ValidationError("--convolution takes auto, direct or winograd")
  }
  if option == ConvolutionAlgorithm.winograd.rawValue, precision != Precision.fp32.rawValue {
    throw ValidationError("--convolution winograd runs in fp32 only (int8 is direct)")
  }
}

/// The algorithm `--convolution` asks for on `network` (nil: the network's default), or a one-line
/// error naming the model and exit code 1 when the model's primary convolution cannot run it.
func resolvedConvolution(_ option: String, network: CapsNetwork, model: String) throws
  -> ConvolutionAlgorithm?
{
  guard let algorithm = ConvolutionAlgorithm(rawValue: option) else { return nil }
  if algorithm == .winograd, !network.supportsWinograd {
    let c = network.configuration
    printError(
      "\(model): the primary convolution (\(c.primaryKernel)x\(c.primaryKernel), stride \(c.primaryStride)) "
        + "cannot run as Winograd, which takes stride 2 and kernels of 7 to 10")
    throw Exit.invalidInput
  }
  return algorithm
}

/// Resolves symlinks and `..` so two spellings of one file compare equal.
func canonicalPath(_ path: String) -> String { FileName.canonical(path) }

/// Encodes a value as pretty, key-sorted JSON on standard output, with snake_case keys
/// (`class_labels`, `source_sha256`) as in the CSV/JSONL columns and the HDF5 attributes. The
/// schemas are in docs/schemas/.
func printJSON(_ value: some Encodable) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  encoder.keyEncodingStrategy = .convertToSnakeCase
  let data = try encoder.encode(value)
  print(String(decoding: data, as: UTF8.self))
}

/// Formats an integer with thousands separators: 8,215,568.
func grouped(_ value: Int) -> String {
  let digits = String(value.magnitude)
  var result = ""
  for (index, character) in digits.enumerated() {
    if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
    result.append(character)
  }
  return value < 0 ? "-" + result : result
}

extension CapsNetConfiguration {
  /// One-line summary of the architecture.
  var summary: String {
    let decoder =
      hasDecoder ? "decoder " + decoderWidths.map(String.init).joined(separator: "-") : "no decoder"
    return
      "\(inputSize)x\(inputSize)x\(inputChannels) input, conv1 \(conv1Channels)@\(conv1Kernel)x\(conv1Kernel), "
      + "primary \(primaryTypes) types x \(primaryDimension)D (\(primaryKernel)x\(primaryKernel) stride \(primaryStride), "
      + "\(primaryGrid)x\(primaryGrid) grid, \(inputCapsules) capsules), \(outputCapsules) x \(outputDimension)D outputs, \(decoder)"
  }
}

extension ModelMetadata {
  /// One-line summary of the inference settings.
  var summary: String {
    let axis = softmaxAxis == .inputCapsules ? "input" : "output"
    return
      "\(routingIterations) routing iterations, softmax over \(axis) capsules, squash epsilon \(squashEpsilon), "
      + "input (x/255 - \(normalization.mean)) / \(normalization.std)"
      + (sourcePrimaryOrder.map { ", imported from a \($0.rawValue) checkpoint" } ?? "")
  }
}
