import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat
@testable import CapsHDF5Writer

/// Reading, writing and validating model files against the Fixtures produced by PyTorch.
@Suite struct ModelFileTests {
  @Test func standardModelConfigurationIsInferredFromShapes() throws {
    let (model, provenance) = try ModelFile.read(at: Fixtures.path("models/standard.h5"))
    let c = model.configuration
    #expect(!provenance.hasMetadata)
    #expect(c.conv1Channels == 256 && c.conv1Kernel == 9 && c.inputSize == 28 && c.inputChannels == 1)
    #expect(c.primaryTypes == 32 && c.primaryDimension == 8 && c.primaryGrid == 6 && c.inputCapsules == 1152)
    #expect(c.outputCapsules == 10 && c.outputDimension == 16 && c.decoderWidths == [512, 1024, 784])
    #expect(c.parameterCount == 8_215_568)
    var expected = ModelMetadata.reference(classCount: 10)
    expected.sourcePrimaryOrder = .dimsMajor  // assumed for a checkpoint, and recorded
    #expect(model.metadata == expected)
    #expect(provenance.primaryOrder == .dimsMajor && !provenance.primaryOrderWasGiven)
  }

  @Test func smallModelIsNotTreatedAsStandard() throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/small.h5"))
    let c = model.configuration
    #expect(c.conv1Channels == 64)
    #expect(c.primaryTypes == 16 && c.primaryDimension == 8 && c.inputCapsules == 576)
    #expect(c.outputCapsules == 10 && c.outputDimension == 16)
    #expect(model.tensor("conv2.weight").shape == [128, 64, 9, 9])
    #expect(c.parameterCount != 8_215_568)
    #expect(c.parameterCount == model.weights.values.reduce(0) { $0 + $1.count })
  }

  /// Model file and state_dict export keep every tensor bit for bit, and the model file keeps metadata.
  @Test(arguments: ["standard", "small"])
  func roundTripIsBitExact(name: String) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = Fixtures.path("models/\(name).h5")
    var (model, _) = try ModelFile.read(at: source)
    model.metadata.routingIterations = 5
    model.metadata.classLabels = (0..<10).map { "class \($0)" }
    model.metadata.normalization = InputNormalization(mean: 0.5, std: 0.25)
    try ModelFile.recordSource(of: &model, path: source)
    let modelPath = folder.appendingPathComponent("m.caps.h5").path
    try ModelFile.write(model, to: modelPath, overwrite: false)
    let (reread, provenance) = try ModelFile.read(at: modelPath)
    #expect(provenance.hasMetadata)
    #expect(reread.metadata == model.metadata)
    #expect(reread.configuration == model.configuration)

    let exportPath = folder.appendingPathComponent("export.h5").path
    try ModelFile.writeStateDict(reread, to: exportPath, overwrite: false)
    let (exported, exportProvenance) = try ModelFile.read(at: exportPath)
    #expect(!exportProvenance.hasMetadata)
    let (original, _) = try ModelFile.read(at: source)
    for key in original.orderedKeys {
      let bits = original.tensor(key).values.map(\.bitPattern)
      #expect(reread.tensor(key).values.map(\.bitPattern) == bits, "\(key) changed in the model file")
      #expect(exported.tensor(key).values.map(\.bitPattern) == bits, "\(key) changed in the export")
      #expect(exported.tensor(key).shape == original.tensor(key).shape)
    }
    // Only the two outputs exist: no temporary files left behind.
    let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    #expect(left == ["export.h5", "m.caps.h5"])
  }

  @Test func sourceDigestIsTheFilesSHA256() throws {
    var hasher = SHA256()
    hasher.update(Array("abc".utf8))
    #expect(hasher.finalize() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    var empty = SHA256()
    #expect(empty.finalize() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    var long = SHA256()
    long.update([UInt8](repeating: 0x61, count: 1_000))  // crosses block boundaries
    #expect(long.finalize() == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
  }

  @Test func existingOutputIsNeverReplacedWithoutOverwrite() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("taken.h5").path
    try Data("keep me".utf8).write(to: URL(fileURLWithPath: path))
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/small.h5"))
    #expect {
      try ModelFile.write(model, to: path, overwrite: false)
    } throws: { error in
      "\(error)" == "\(path): already exists"  // no CLI flag: the tool adds "(use --force ...)"
    }
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["taken.h5"])
    try ModelFile.write(model, to: path, overwrite: true)
    #expect(try ModelFile.read(at: path).model.configuration == model.configuration)
  }

  @Test func writingIntoAMissingFolderFails() throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/small.h5"))
    let error = #expect(throws: FormatError.self) {
      try ModelFile.write(model, to: "/nonexistent-capskit-folder/out.h5", overwrite: false)
    }
    #expect(error?.kind == .notFound)
    #expect(error?.path == "/nonexistent-capskit-folder/out.h5")
  }

  @Test func keyPrefixesAndOlderDecoderNamesAreCanonicalised() {
    let (keys, renamed) = ModelFile.canonicalKeys([
      "state/module.conv1.weight", "state/module.reconstruct.0.weight",
    ])
    #expect(
      keys == [
        "conv1.weight": "state/module.conv1.weight", "decoder.0.weight": "state/module.reconstruct.0.weight",
      ])
    #expect(renamed.count == 3)
  }
}

/// The in-memory reader (used by the fuzz target) agrees with the file reader.
@Suite struct InMemoryReadTests {
  @Test func fileImageReadsLikeTheFile() throws {
    let path = Fixtures.path("models/small.h5")
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let fromImage = try ModelFile.read(image: bytes, name: "small.h5").model
    let fromFile = try ModelFile.read(at: path).model
    #expect(fromImage.configuration == fromFile.configuration)
    for key in fromFile.orderedKeys {
      #expect(fromImage.tensor(key).values.map(\.bitPattern) == fromFile.tensor(key).values.map(\.bitPattern))
    }
    let cut = #expect(throws: FormatError.self) {
      try ModelFile.read(image: Array(bytes.prefix(5000)), name: "cut.h5")
    }
    #expect(cut?.kind == .truncated, "\(String(describing: cut))")
    #expect(cut?.path == "cut.h5")
    let empty = #expect(throws: FormatError.self) { try ModelFile.read(image: [], name: "empty.h5") }
    #expect(empty?.kind == .wrongFormat, "\(String(describing: empty))")
  }
}

/// Issue 12: thousands of problems (4,000 missing Keras layers, 20,000 extra datasets) made error
/// lines of hundreds of kilobytes; the line lists the first few and counts the rest.
@Suite struct LongProblemListTests {
  @Test func aLongProblemListIsShortenedWithACount() {
    let problems = (0..<4000).map { "layer 'dense_\($0)' is listed but has no group" }
    let error = ModelValidationError(
      origin: "keras.h5 (Keras layout)", messages: problems, kind: .invalidConfiguration)
    #expect(error.description.utf8.count < 600)
    #expect(
      error.description.hasPrefix("keras.h5 (Keras layout): layer 'dense_0' is listed but has no group; "))
    #expect(error.description.contains("layer 'dense_7' is listed"))
    #expect(!error.description.contains("layer 'dense_8' is listed"))
    #expect(error.description.hasSuffix("; and 3992 more problems"))
    #expect(error.problems.count == 4000)
    #expect(error.problems.allSatisfy { $0.kind == .invalidConfiguration && $0.tensor == nil })
    let few = ModelValidationError(
      origin: "m.h5", problems: [.missingTensor("a"), .init(.wrongShape, "'b' has shape [1]", tensor: "b")])
    #expect(few.description == "m.h5: missing tensor 'a'; 'b' has shape [1]")
    #expect(few.problems.map(\.kind) == [.missingTensor, .wrongShape])
    #expect(few.problems.map(\.tensor) == ["a", "b"])
  }
}
