import CapsFiles
import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat

/// Inputs found by the fuzzers (Tools/dev/fuzz.sh), kept in Fixtures/bad as regression cases.
/// See docs/RELIABILITY.md for how each was found.
@Suite struct FuzzRegressionTests {
  /// FuzzModel: an object header whose size claims 4 GiB (libhdf5 1.10.8 malloc'ed that much).
  /// CapsKit's reader bounds every metadata block (16 MiB) and every read by the file size, so the
  /// corrupt continuation message is reported instead. The read must end in one clear line, from
  /// the file on disk and from the same bytes in memory.
  @Test func hugeObjectHeaderClaimIsACleanError() throws {
    let path = Fixtures.path("bad/fuzz_hdf5_huge_header.h5")
    let error = try #require(readFailure(path))
    #expect(error.kind == .corrupt && error.path == path, "\(error)")
    // The golden line of the family: the operation and the structure at fault.
    #expect(
      error.description
        == "\(path): cannot list group '/' (continuation message: truncated (needs 8 more bytes))")

    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let inMemory = #expect(throws: FormatError.self) {
      _ = try ModelFile.read(image: bytes, name: "memory.h5")
    }
    #expect(inMemory?.kind == .corrupt)
  }

  /// FuzzModel: more cases that must end in one clear line naming the file.
  /// - fuzz_hdf5_huge_cache_entry.h5: a local heap claiming a 65 TB data segment (libhdf5 1.10.8
  ///   asked malloc for it); refused before allocating, against the 16 MiB metadata bound.
  /// - fuzz_hdf5_storage_overflow.h5: a storage size so large that the plausibility check's
  ///   `storage * 1100` overflowed and trapped (fixed: overflow now means plausible; the file then
  ///   fails later, on its NaN weights).
  /// - fuzz_hdf5_class_count.h5: a routing tensor whose shape claims 2^32 - 1 output capsules; the
  ///   default metadata allocated one label per capsule (fixed: ModelFile.maxOutputCapsules).
  /// - fuzz_hdf5_shape_overflow.h5, fuzz_hdf5_decoder_overflow.h5: sizes taken from shapes whose
  ///   products (output capsules x dimension; input side² x channels) overflowed and trapped in
  ///   `CapsNetConfiguration` (fixed: every size is bounded first, `ModelFile.maxDimension`).
  @Test(
    arguments: [
      ("fuzz_hdf5_huge_cache_entry.h5", ErrorKind.corrupt, nil),
      ("fuzz_hdf5_storage_overflow.h5", .invalidModel, .nonFinite),
      ("fuzz_hdf5_class_count.h5", .invalidModel, .invalidConfiguration),
      ("fuzz_hdf5_shape_overflow.h5", .invalidModel, .invalidConfiguration),
      ("fuzz_hdf5_decoder_overflow.h5", .invalidModel, .invalidConfiguration),
    ] as [(String, ErrorKind, ModelValidationError.Problem.Kind?)])
  func corruptHDF5IsACleanError(file: String, kind: ErrorKind, problem: ModelValidationError.Problem.Kind?)
    throws
  {
    let path = Fixtures.path("bad/\(file)")
    let error = try #require(readFailure(path))
    #expect(error.kind == kind && error.path == path, "\(error)")
    #expect(error.validationError?.problems.first?.kind == problem, "\(error)")
    #expect(!error.description.contains("\n"))

    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let inMemory = #expect(throws: FormatError.self) {
      _ = try ModelFile.read(image: bytes, name: "memory.h5")
    }
    #expect(inMemory?.kind == kind)
  }

  /// FuzzModel: two corrupt symbol-table groups on which libhdf5 1.10.8 dereferenced NULL (inside
  /// H5Gget_info -> H5G__stab_count, and H5Lexists -> H5G__stab_lookup). CapsKit's own reader checks
  /// the local heap's signature and reports it.
  @Test(arguments: ["fuzz_libhdf5_segv_group.h5", "fuzz_libhdf5_segv_2.h5"])
  func corruptSymbolTableIsACleanError(file: String) throws {
    let path = Fixtures.path("bad/\(file)")
    let error = try #require(readFailure(path))
    #expect(error.kind == .corrupt && error.path == path, "\(error)")
    #expect(error.hdf5Error?.detail == "local heap at 680: bad signature (expected HEAP)", "\(error)")
    #expect(!error.description.contains("\n"))
  }
}
