import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat

/// Inputs found by the fuzzers (Tools/dev/fuzz.sh), kept in Fixtures/bad as regression cases.
/// See docs/RELIABILITY.md for how each was found.
@Suite struct FuzzRegressionTests {
  private func message(_ path: String) -> String? {
    do {
      _ = try ModelFile.read(at: path)
      return nil
    } catch {
      return error.description
    }
  }

  /// FuzzModel: an object header whose size claims 4 GiB (libhdf5 1.10.8 malloc'ed that much).
  /// CapsKit's reader bounds every metadata block (16 MiB) and every read by the file size, so the
  /// corrupt continuation message is reported instead. The read must end in one clear line, from
  /// the file on disk and from the same bytes in memory.
  @Test func hugeObjectHeaderClaimIsACleanError() throws {
    let path = Fixtures.path("bad/fuzz_hdf5_huge_header.h5")
    let text = try #require(message(path), "accepted")
    #expect(text.hasPrefix(path + ": "), "\(text)")
    #expect(text.contains("continuation message: truncated"), "\(text)")
    #expect(!text.contains("\n"))

    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(throws: FormatError.self) { _ = try ModelFile.read(image: bytes, name: "memory.h5") }
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
  @Test(arguments: [
    ("fuzz_hdf5_huge_cache_entry.h5", "data segment size 71468255805616 is out of range (at most 16777216)"),
    ("fuzz_hdf5_storage_overflow.h5", "'conv2.bias' has 2 NaN"),
    ("fuzz_hdf5_class_count.h5", "output capsules, more than the 65536 accepted"),
    ("fuzz_hdf5_shape_overflow.h5", "is out of range (at most"),
    ("fuzz_hdf5_decoder_overflow.h5", "is out of range (at most"),
  ])
  func corruptHDF5IsACleanError(file: String, expected: String) throws {
    let path = Fixtures.path("bad/\(file)")
    let text = try #require(message(path), "accepted")
    #expect(text.hasPrefix(path + ": "), "\(text)")
    #expect(text.contains(expected), "\(text)")
    #expect(!text.contains("\n"))

    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(throws: FormatError.self) { _ = try ModelFile.read(image: bytes, name: "memory.h5") }
  }

  /// FuzzModel: two corrupt symbol-table groups on which libhdf5 1.10.8 dereferenced NULL (inside
  /// H5Gget_info -> H5G__stab_count, and H5Lexists -> H5G__stab_lookup). CapsKit's own reader checks
  /// the local heap's signature and reports it.
  @Test(arguments: ["fuzz_libhdf5_segv_group.h5", "fuzz_libhdf5_segv_2.h5"])
  func corruptSymbolTableIsACleanError(file: String) throws {
    let path = Fixtures.path("bad/\(file)")
    let text = try #require(message(path), "accepted")
    #expect(text.hasPrefix(path + ": "), "\(text)")
    #expect(text.contains("local heap at 680: bad signature (expected HEAP)"), "\(text)")
    #expect(!text.contains("\n"))
  }
}
