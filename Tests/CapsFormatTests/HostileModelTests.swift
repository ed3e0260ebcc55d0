import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat
@testable import CapsHDF5Writer

/// Writes a small HDF5 model file (zero-filled datasets of the given shapes, root attributes as
/// given) into `folder` and returns its path: hostile metadata without a hostile size on disk.
func writeHostileModel(
  in folder: URL, name: String = "hostile.h5", shapes: [(String, [Int])],
  attributes: [(String, HDF5AttributeValue)]
) throws -> String {
  let path = folder.appendingPathComponent(name).path
  let file = try HDF5Writer.createInMemory(path: path)
  for (key, shape) in shapes {
    try file.write(key, shape: shape, values: [Float](repeating: 0, count: shape.reduce(1, *)))
  }
  for (key, value) in attributes { try file.setAttribute(key, value) }
  try Data(try file.fileImage()).write(to: URL(fileURLWithPath: path))
  return path
}

/// The tensors of a tiny valid model: 8x8 input, conv1 2@3x3, primary 2 types x 2D (3x3, stride 2),
/// a 2x2 grid (8 input capsules), 3 outputs x 2D.
let tinyShapes: [(String, [Int])] = [
  ("conv1.weight", [2, 1, 3, 3]), ("conv1.bias", [2]), ("conv2.weight", [4, 2, 3, 3]), ("conv2.bias", [4]),
  ("digit_capsules.weight", [8, 3, 2, 2]),
]

/// The error reading the model at `path`; nil (and a recorded issue) when it reads.
func readFailure(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> FormatError? {
  do {
    _ = try ModelFile.read(at: path)
    Issue.record("\(path) was read without error", sourceLocation: sourceLocation)
    return nil
  } catch {
    return error
  }
}

/// Metadata and sizes a file chose: refused with a message before any arithmetic can overflow.
@Suite struct HostileModelTests {

  @Test(arguments: [
    (Int64(1) << 40, "input size 1099511627776 is out of range (at most 8192)"),
    (Int64.min, "input size -9223372036854775808 is out of range (at most 8192)"),
    (Int64.max, "input size 9223372036854775807 is out of range (at most 8192)"),
  ])
  func anInputSizeThatWouldOverflowIsRefused(size: Int64, expected: String) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = try writeHostileModel(
      in: folder, shapes: tinyShapes,
      attributes: [("capskit_format_version", .integers([1])), ("input_size", .integers([size]))])
    let error = try #require(readFailure(path))
    #expect(error.kind == .invalidModel)
    #expect(error.validationError?.problems == [.init(.invalidConfiguration, expected)], "\(error)")
    #expect(!error.description.contains("\n"))
  }

  @Test func aStrideThatWouldOverflowIsRefused() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = try writeHostileModel(
      in: folder, shapes: tinyShapes,
      attributes: [("capskit_format_version", .integers([1])), ("primary_stride", .integers([Int64.min]))])
    let error = try #require(readFailure(path))
    #expect(error.kind == .invalidModel)
    #expect(
      error.validationError?.problems
        == [
          .init(
            .invalidConfiguration, "primary stride -9223372036854775808 is out of range (at most 1048576)")
        ],
      "\(error)")
    // The golden line of the family.
    #expect(
      error.description == "\(path): primary stride -9223372036854775808 is out of range (at most 1048576)")
  }

  /// The tiny model itself reads (so the refusals above are about the metadata alone).
  @Test func theTinyModelReads() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = try writeHostileModel(
      in: folder, shapes: tinyShapes,
      attributes: [("capskit_format_version", .integers([1])), ("input_size", .integers([8]))])
    let (model, _) = try ModelFile.read(at: path)
    #expect(model.configuration.inputCapsules == 8 && model.configuration.primaryGrid == 2)
  }
}

/// Reference-activation files are checked from their declared sizes before any value is read.
@Suite struct HostileReferenceTests {
  private func reference(
    in folder: URL, images: Int, stages: [(String, [Int])] = []
  ) throws -> String {
    let path = folder.appendingPathComponent("reference.h5").path
    let file = try HDF5Writer.createInMemory(path: path)
    try file.declare("pixels", shape: [images, 1, 28, 28], as: UInt8.self)
    try file.declare("prediction", shape: [images], as: Int64.self)
    for (name, shape) in stages { try file.declare(name, shape: shape, as: Float.self) }
    try file.setAttribute("format", .strings(["capskit-activations"]))
    try Data(try file.fileImage()).write(to: URL(fileURLWithPath: path))
    return path
  }

  /// The error reading the reference at `path`; nil (and a recorded issue) when it reads.
  private func failure(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> FormatError? {
    do {
      _ = try ReferenceActivations.read(at: path)
      Issue.record("\(path) was read without error", sourceLocation: sourceLocation)
      return nil
    } catch {
      return error
    }
  }

  /// A few kilobytes claiming 100,000 images: verify planned a batch of all of them (137 GB).
  @Test func tooManyImagesAreRefused() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = try reference(in: folder, images: 100_000)
    #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0 < 100_000)
    let error = try #require(failure(path))
    #expect(error.kind == .limitExceeded && error.tensor == "pixels", "\(error)")
    #expect(
      error.description == "\(path): dataset 'pixels' holds 100000 images, more than the 10000 accepted")
    #expect(try ReferenceActivations.read(at: try reference(in: folder, images: 10_000)).count == 10_000)
  }

  /// A stage whose declared shape disagrees with the image count is refused before it is read.
  @Test func aStageOfTheWrongSizeIsRefusedBeforeReading() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = try reference(in: folder, images: 4, stages: [("u_hat", [16384, 16384])])
    let error = try #require(failure(path))
    #expect(error.kind == .unexpectedContent && error.tensor == "u_hat", "\(error)")
  }
}

/// Metadata numbers are validated in Float, the runtime's precision.
@Suite struct FloatMetadataTests {
  @Test(arguments: [("input_std", 1e-300), ("input_std", 1e-45), ("input_mean", 1e300)])
  func aNormalisationThatOverflowsFloatIsRefused(name: String, value: Double) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = try writeHostileModel(
      in: folder, shapes: tinyShapes,
      attributes: [
        ("capskit_format_version", .integers([1])), ("input_size", .integers([8])), (name, .doubles([value])),
      ])
    let error = try #require(readFailure(path))
    let problems = error.validationError?.problems ?? []
    #expect(error.kind == .invalidModel && problems.map(\.kind) == [.invalidMetadata], "\(error)")
    #expect(problems.first?.message.hasPrefix("input normalisation (x/255 - ") == true, "\(error)")
  }
}

/// Import hashes a source file only up to what its model can need: a valid model file with an
/// 8 GiB sparse tail is imported without reading the tail (it took 15 s per 2 GiB).
@Suite struct SourceDigestTests {
  @Test func aFileFarLargerThanItsModelIsNotHashed() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = try writeHostileModel(
      in: folder, shapes: tinyShapes,
      attributes: [("capskit_format_version", .integers([1])), ("input_size", .integers([8]))])
    var (model, _) = try ModelFile.read(at: path)
    #expect(try ModelFile.recordSource(of: &model, path: path) == nil)
    let digest = try #require(model.metadata.sourceSHA256)
    var hasher = SHA256()
    hasher.update(try Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(digest == hasher.finalize())

    let handle = try #require(FileHandle(forWritingAtPath: path))
    try handle.truncate(atOffset: 8 << 30)
    try handle.close()
    var (grown, _) = try ModelFile.read(at: path)
    let note = try ModelFile.recordSource(of: &grown, path: path)
    #expect(
      note?.contains("source SHA-256 not recorded: the file is larger than the 64 MiB") == true,
      "\(note ?? "")")
    #expect(grown.metadata.sourceSHA256 == nil && grown.metadata.sourceName == "hostile.h5")
  }

  @Test func labelsReadFromAFileAreChecked() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = try writeHostileModel(
      in: folder, shapes: tinyShapes,
      attributes: [
        ("capskit_format_version", .integers([1])), ("input_size", .integers([8])),
        ("class_labels", .strings(["cat", "", "cat"])),
      ])
    let error = try #require(readFailure(path))
    #expect(error.kind == .invalidModel)
    #expect(
      error.validationError?.problems == [
        .init(.invalidMetadata, "class label 1 is empty"),
        .init(.invalidMetadata, "class label 'cat' is given twice (classes 0 and 2)"),
      ], "\(error)")
  }
}

/// Converted layouts read nothing until `ModelFile` has checked every shape: a tensor the model does
/// not use is reported, never read (gram-ai and Keras extras were read in full: 4.2 GB, 1.6 GB).
@Suite struct LazyLayoutTests {
  /// A tiny gram-ai checkpoint (28x28 input, conv1 2@3x3, 2 primary convolutions of 2 types, 3
  /// outputs) plus `extra`, declared but never written.
  private func gramAI(in folder: URL, extra: [Int]) throws -> String {
    let path = folder.appendingPathComponent("gram-ai.h5").path
    let file = try HDF5Writer.createInMemory(path: path)
    let shapes: [(String, [Int])] = [
      ("conv1.weight", [2, 1, 3, 3]), ("conv1.bias", [2]),
      ("primary_capsules.capsules.0.weight", [2, 2, 3, 3]), ("primary_capsules.capsules.0.bias", [2]),
      ("primary_capsules.capsules.1.weight", [2, 2, 3, 3]), ("primary_capsules.capsules.1.bias", [2]),
      ("digit_capsules.route_weights", [3, 288, 2, 2]),
    ]
    for (key, shape) in shapes {
      try file.write(key, shape: shape, values: [Float](repeating: 0.1, count: shape.reduce(1, *)))
    }
    if !extra.isEmpty { try file.declare("extra.weight", shape: extra, as: Float.self) }
    try Data(try file.fileImage()).write(to: URL(fileURLWithPath: path))
    return path
  }

  @Test func anExtraGramAITensorIsReportedWithoutBeingRead() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let (model, provenance) = try ModelFile.read(at: try gramAI(in: folder, extra: []))
    #expect(provenance.layout == .gramAI && model.configuration.inputCapsules == 288)
    // 2^29 declared elements: reading them would pass the element limit (and allocate 2 GiB).
    let error = try #require(readFailure(try gramAI(in: folder, extra: [16384, 32768])))
    #expect(error.kind == .invalidModel, "\(error)")
    #expect(error.validationError?.problems == [.unexpectedTensor("extra.weight")], "\(error)")
  }

  /// Converting reads no values: with a limit of 100 elements per tensor the conversion itself
  /// succeeds, and only reading a tensor past the limit is refused.
  @Test func conversionReadsNoValues() throws {
    var options = ModelFile.ReadOptions()
    options.maxTensorElements = 100
    let keras = try HDF5File.open(path: Fixtures.path("layouts/keras_weights.h5"))
    let converted = try KerasLayout.convert(keras, options: options)
    #expect(try converted.tensorInfo("conv2.weight").shape.count == 4)
    let error = #expect(throws: FormatError.self) { try converted.readTensor("conv2.weight", maxCount: 100) }
    #expect(error?.kind == .limitExceeded, "\(String(describing: error))")
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let gram = try HDF5File.open(path: try gramAI(in: folder, extra: []))
    let convertedGram = try GramAILayout.convert(gram, options: options)
    #expect(try convertedGram.tensorInfo("digit_capsules.weight").shape == [288, 3, 2, 2])
    #expect(try convertedGram.tensorInfo("conv2.weight").shape == [4, 2, 3, 3])
  }
}

/// A model with 5,000 classes: its class_labels attribute (80 KB of string references) passes the
/// 64 KiB an object header holds, so it is written in dense storage (import used to fail).
@Suite struct ManyClassesTests {
  @Test func fiveThousandLabelsAreWrittenAndReadBack() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let c = CapsNetConfiguration(
      inputSize: 8, inputChannels: 1, conv1Channels: 2, conv1Kernel: 3, primaryKernel: 3, primaryStride: 2,
      primaryTypes: 2, primaryDimension: 2, outputCapsules: 5000, outputDimension: 2, decoderWidths: [])
    var model = try uniformModel(c, value: 0.5)
    model.metadata.classLabels = (0..<5000).map { "class \($0)" }
    let metadata = model.metadata
    let path = folder.appendingPathComponent("many.caps.h5").path
    try ModelFile.write(model, to: path, overwrite: false)
    // Dense storage keeps an attribute this large as a "huge" fractal-heap object (HDF5 reader).
    let (reread, _) = try ModelFile.read(at: path)
    #expect(reread.metadata.classLabels == metadata.classLabels)
    #expect(reread.configuration == c)
  }
}
