import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat

/// `.pth` checkpoints written by `torch.save` (Fixtures/pth, made by Tools/fixtures/make_pth_fixtures.py)
/// read without Python: same tensors as HDF5, every element type, strided views, wrappers.
@Suite struct PthReadingTests {
  private func bits(_ model: CapsModel) -> [String: [UInt32]] {
    Dictionary(
      uniqueKeysWithValues: model.orderedKeys.map { ($0, model.tensor($0).values.map(\.bitPattern)) })
  }

  /// The acceptance check: the small Fixtures model saved by torch.save reads bit for bit as from HDF5.
  @Test func smallModelFromPthIsBitIdenticalToHDF5() throws {
    let (fromPth, provenance) = try ModelFile.read(at: Fixtures.path("pth/small.pth"))
    let (fromHDF5, _) = try ModelFile.read(at: Fixtures.path("models/small.h5"))
    #expect(fromPth.configuration == fromHDF5.configuration)
    #expect(fromPth.metadata == fromHDF5.metadata)
    #expect(
      bits(fromPth) == bits(fromHDF5),
      "Fixtures/pth/small.pth no longer matches Fixtures/models/small.h5: rerun python3 Tools/fixtures/make_pth_fixtures.py --only-small"
    )
    #expect(fromPth.orderedKeys.allSatisfy { fromPth.tensor($0).shape == fromHDF5.tensor($0).shape })
    #expect(provenance.storedTypes.values.allSatisfy { $0 == .float(bits: 32) })
    #expect(!provenance.hasMetadata)
  }

  /// `{"epoch": 3, "state_dict": {"module.conv1.weight": ...}}`, as torch.save wrote it and rewritten
  /// with ZIP64 records, equals the plain HDF5 copy.
  @Test(arguments: ["tiny.pth", "tiny_zip64.pth"])
  func wrappedPrefixedAndZip64CheckpointsMatchHDF5(file: String) throws {
    let (model, provenance) = try ModelFile.read(at: Fixtures.path("pth/\(file)"))
    let (reference, _) = try ModelFile.read(at: Fixtures.path("pth/tiny.h5"))
    #expect(bits(model) == bits(reference))
    #expect(model.configuration.primaryTypes == 2 && model.configuration.outputCapsules == 4)
    #expect(provenance.renamedKeys.contains("state_dict taken from 'state_dict'"))
    #expect(provenance.renamedKeys.contains("prefix 'module.' stripped"))
    let archive = try ZipArchive(path: Fixtures.path("pth/\(file)"))
    #expect(archive.isZip64)
  }

  /// The stream format of PyTorch < 1.6: five pickles, then the storages with element counts.
  @Test func legacyFormatMatchesHDF5() throws {
    let (model, provenance) = try ModelFile.read(at: Fixtures.path("pth/legacy.pth"))
    let (reference, _) = try ModelFile.read(at: Fixtures.path("pth/tiny.h5"))
    #expect(bits(model) == bits(reference))
    #expect(provenance.layout == .reference)
  }

  @Test func everyFloatStorageTypeIsReadExactly() throws {
    let source = try PthTensorSource(path: Fixtures.path("pth/dtypes.pth"))
    let expected = (0..<32).map { Float($0) / 8 - 2 }
    let types: [(String, StoredScalarType)] = [
      ("float32", .float(bits: 32)), ("float64", .float(bits: 64)), ("float16", .float(bits: 16)),
      ("bfloat16", .bfloat16),
    ]
    for (name, type) in types {
      #expect(try source.tensorInfo(name).storedType == type)
      let tensor = try source.read(name, maxCount: 1000)
      #expect(tensor.shape == [4, 8])
      #expect(tensor.values == expected, "\(name)")
    }
    let half = try source.read("half_special", maxCount: 100).values.map(\.bitPattern)
    #expect(half == [0x3380_0000, 0xB880_0000, 0x477F_E000, 0x8000_0000, 0x7F80_0000, 0x3DCC_C000])
    let brain = try source.read("bfloat16_special", maxCount: 100).values.map(\.bitPattern)
    #expect(brain == [0x0001_0000, 0xFF62_0000, 0x3DCD_0000, 0x8000_0000])
    #expect(try source.tensorInfo("int64").storedType == .integer(bits: 64, signed: true))
    #expect(try source.read("int64", maxCount: 10).values == [0, 1, 2])
  }

  @Test func stridedViewsAreReadInRowMajorOrder() throws {
    let source = try PthTensorSource(path: Fixtures.path("pth/dtypes.pth"))
    let transposed = try source.read("transposed", maxCount: 100)
    #expect(transposed.shape == [6, 4])
    #expect(transposed.values == (0..<6).flatMap { i in (0..<4).map { j in Float(j * 6 + i) } })
    let offset = try source.read("offset_view", maxCount: 100)
    #expect(offset.values == (0..<24).map { Float(10 + $0) })
    let sparse = try source.read("every_other", maxCount: 100)
    #expect(sparse.shape == [3, 3])
    #expect(sparse.values == [1, 4, 7, 17, 20, 23, 33, 36, 39])
    let expanded = try source.read("expanded", maxCount: 100)
    #expect(expanded.values == [1, 2, 3, 1, 2, 3])
  }

  @Test func limitsAreCheckedBeforeReading() throws {
    let source = try PthTensorSource(path: Fixtures.path("pth/dtypes.pth"))
    let tensor = #expect(throws: FormatError.self) { try source.read("float32", maxCount: 31) }
    #expect(tensor?.kind == .limitExceeded && tensor?.tensor == "float32", "\(String(describing: tensor))")
    // A 24-element view of a 100-element storage: the storage counts against the limit too.
    let view = #expect(throws: FormatError.self) { try source.read("offset_view", maxCount: 50) }
    #expect(view?.kind == .limitExceeded && view?.tensor == "offset_view", "\(String(describing: view))")
    #expect(view?.detail.hasSuffix("of 100 elements, more than the limit of 50") == true)
  }

  /// float16 weights read as HDF5 reads them (libhdf5 converts those), bfloat16 as torch rounds them.
  @Test func modelsInHalfPrecisionAreConvertedExactly() throws {
    let (half, halfProvenance) = try ModelFile.read(at: Fixtures.path("pth/tiny_float16.pth"))
    let (halfHDF5, _) = try ModelFile.read(at: Fixtures.path("pth/tiny_float16.h5"))
    #expect(bits(half) == bits(halfHDF5))
    #expect(halfProvenance.storedTypes.values.allSatisfy { $0 == .float(bits: 16) })

    let (brain, brainProvenance) = try ModelFile.read(at: Fixtures.path("pth/tiny_bfloat16.pth"))
    let (full, _) = try ModelFile.read(at: Fixtures.path("pth/tiny.h5"))
    #expect(brainProvenance.storedTypes.values.allSatisfy { $0 == .bfloat16 })
    for (key, values) in bits(full) {
      // float32 to bfloat16, round to nearest even (what torch does), back to float32.
      let rounded = values.map { ($0 &+ 0x7FFF &+ (($0 >> 16) & 1)) & 0xFFFF_0000 }
      #expect(bits(brain)[key] == rounded, "\(key)")
    }
  }

  @Test func theContainerIsToldFromTheFirstBytes() {
    #expect(CheckpointContainer.sniff(path: Fixtures.path("pth/tiny.pth")) == .zip)
    #expect(CheckpointContainer.sniff(path: Fixtures.path("pth/legacy.pth")) == .legacyTorch)
    #expect(CheckpointContainer.sniff(path: Fixtures.path("pth/tiny.h5")) == .hdf5)
    #expect(CheckpointContainer.sniff(path: "/nonexistent/capskit.pth") == .hdf5)
  }
}
