import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat

/// Inputs found by the fuzzers (Tools/fuzz.sh), kept in Fixtures/bad as regression cases.
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

  /// FuzzModel: an object header whose size claims 4 GiB. libhdf5 mallocs that much before its
  /// read fails at the end of the file; the block is never touched (capsconv peaks at ~31 MB RSS).
  /// The read must end in one clear line, from the file on disk and from the same bytes in memory.
  @Test func hugeObjectHeaderClaimIsACleanError() throws {
    let path = Fixtures.path("bad/fuzz_hdf5_huge_header.h5")
    let text = try #require(message(path), "accepted")
    #expect(text.hasPrefix(path + ": "), "\(text)")
    #expect(text.contains("addr overflow"), "\(text)")
    #expect(!text.contains("\n"))

    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(throws: FormatError.self) { _ = try ModelFile.read(image: bytes, name: "memory.h5") }
  }

  /// FuzzModel: more cases that must end in one clear line naming the file.
  /// - fuzz_hdf5_huge_cache_entry.h5: libhdf5 asks malloc for more than 1 TiB for a metadata-cache
  ///   entry; malloc fails and libhdf5 reports it (ASan needs allocator_may_return_null=1, as in
  ///   Tools/sanitize.sh, to behave like the system allocator).
  /// - fuzz_hdf5_storage_overflow.h5: a storage size so large that the plausibility check's
  ///   `storage * 1100` overflowed and trapped (fixed: overflow now means plausible; the file then
  ///   fails later, on its NaN weights).
  /// - fuzz_hdf5_class_count.h5: a routing tensor whose shape claims 2^32 - 1 output capsules; the
  ///   default metadata allocated one label per capsule (fixed: ModelFile.maxOutputCapsules).
  /// - fuzz_hdf5_shape_overflow.h5, fuzz_hdf5_decoder_overflow.h5: sizes taken from shapes whose
  ///   products (output capsules x dimension; input side² x channels) overflowed and trapped in
  ///   `CapsNetConfiguration` (fixed: every size is bounded first, `ModelFile.maxDimension`).
  @Test(arguments: [
    ("fuzz_hdf5_huge_cache_entry.h5", "memory allocation failed"),
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

  /// FuzzModel: two corrupt symbol-table groups on which libhdf5 1.10.8 dereferences NULL inside
  /// H5Gget_info -> H5G__stab_count. CapsKit lists groups with H5Literate instead, which reports
  /// the corruption as an error.
  @Test(arguments: ["fuzz_libhdf5_segv_group.h5", "fuzz_libhdf5_segv_2.h5"])
  func corruptSymbolTableIsACleanError(file: String) throws {
    let path = Fixtures.path("bad/\(file)")
    let text = try #require(message(path), "accepted")
    #expect(text.hasPrefix(path + ": "), "\(text)")
    #expect(text.contains("cannot list group '/'"), "\(text)")
  }
}
