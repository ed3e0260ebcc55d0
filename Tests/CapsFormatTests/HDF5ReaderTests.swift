import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat

/// The Swift HDF5 reader against h5py: `Fixtures/hdf5/*.h5` and `expected.json` are written by
/// `Tools/fixtures/make_hdf5_variants.py`, whose values are what h5py (libhdf5) reads back from each file.
@Suite struct HDF5ReaderTests {
  struct Expected {
    var datasets: [String: (shape: [Int], dtype: String, values: [String])] = [:]
    var attributes: [String: [String: (kind: String, values: [String])]] = [:]
    var skipped: [String] = []
    var unsupported: [String: String] = [:]
    var superblock = 0
  }

  static let expected = load(Fixtures.path("hdf5/expected.json"))

  static func load(_ path: String) -> [String: Expected] {
    let url = URL(fileURLWithPath: path)
    guard let data = try? Data(contentsOf: url),
      let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let files = root["files"] as? [String: [String: Any]]
    else { return [:] }
    var result: [String: Expected] = [:]
    for (file, entry) in files {
      var expected = Expected()
      expected.superblock = entry["superblock_version"] as? Int ?? -1
      for (name, value) in entry["datasets"] as? [String: [String: Any]] ?? [:] {
        expected.datasets[name] = (
          value["shape"] as? [Int] ?? [], value["dtype"] as? String ?? "", value["values"] as? [String] ?? []
        )
      }
      for (object, attributes) in entry["attributes"] as? [String: [String: [String: Any]]] ?? [:] {
        for (name, value) in attributes {
          expected.attributes[object, default: [:]][name] = (
            value["kind"] as? String ?? "", value["values"] as? [String] ?? []
          )
        }
      }
      expected.skipped = entry["links_skipped"] as? [String] ?? []
      expected.unsupported = entry["unsupported"] as? [String: String] ?? [:]
      result[file] = expected
    }
    return result
  }

  static let libvers = ["earliest", "v108", "v110", "v112", "v114", "latest"]
  static let files =
    [
      "v0_contiguous.h5", "v0_chunked.h5", "latest.h5", "latest_dense.h5", "attributes.h5", "userblock.h5",
      "unsupported.h5", "many_keys.h5", "paged.h5", "heap_objects.h5", "debian_libhdf5.h5",
    ] + libvers.map { "libver_\($0).h5" }

  /// "<f4" -> float32, ">i8" -> int64, "|u1" -> uint8 (the reader's StoredScalarType names).
  static func typeName(_ dtype: String) -> String {
    let kind = dtype.dropFirst().first!
    let bits = Int(dtype.dropFirst(2))! * 8
    switch kind {
    case "f": return "float\(bits)"
    case "i": return "int\(bits)"
    case "u": return "uint\(bits)"
    default: return dtype
    }
  }

  static func number(_ text: String) -> Double { Double(text)! }

  @Test func expectationsAreLoaded() {
    #expect(Set(Self.expected.keys) == Set(Self.files))
  }

  @Test(arguments: files)
  func datasetsMatchH5py(file: String) throws {
    try Self.compare(Fixtures.path("hdf5/\(file)"), with: try #require(Self.expected[file]))
  }

  /// Files too large to commit (`python3 Tools/fixtures/make_hdf5_variants.py --corpus DIR`: paged
  /// extensible arrays), compared the same way when CAPSKIT_HDF5_CORPUS=DIR.
  @Test(.enabled(if: ProcessInfo.processInfo.environment["CAPSKIT_HDF5_CORPUS"] != nil))
  func largeCorpusMatchesH5py() throws {
    let folder = ProcessInfo.processInfo.environment["CAPSKIT_HDF5_CORPUS"] ?? ""
    let corpus = Self.load(folder + "/expected.json")
    #expect(!corpus.isEmpty)
    for (file, expected) in corpus { try Self.compare(folder + "/" + file, with: expected) }
  }

  static func compare(_ path: String, with expected: Expected) throws {
    let file = URL(fileURLWithPath: path).lastPathComponent
    let hdf5 = try HDF5File.open(path: path)
    let listed = try hdf5.datasetPaths(maxDepth: 4)
    #expect(Set(listed) == Set(expected.datasets.keys).union(expected.unsupported.keys), "\(file)")
    #expect(listed.count == Set(listed).count)
    for skipped in expected.skipped { #expect(!listed.contains(skipped)) }
    for (name, dataset) in expected.datasets.sorted(by: { $0.key < $1.key }) {
      let info = try hdf5.datasetInfo(name)
      #expect(info.shape == dataset.shape, "\(file): \(name)")
      #expect(info.storedType.description == Self.typeName(dataset.dtype), "\(file): \(name)")
      let (shape, values) = try hdf5.read(name, as: Double.self, maxCount: 1 << 20)
      #expect(shape == dataset.shape)
      let wanted = dataset.values.map(Self.number)
      #expect(values.count == wanted.count, "\(file): \(name)")
      let mismatches = zip(values, wanted).enumerated().filter { _, pair in
        pair.0.isNaN ? !pair.1.isNaN : pair.0.bitPattern != pair.1.bitPattern
      }
      #expect(mismatches.isEmpty, "\(file): \(name): first mismatches \(mismatches.prefix(3))")
      if dataset.dtype.hasPrefix("<f") || dataset.dtype.hasPrefix(">f") {
        let floats = try hdf5.read(name, as: Float.self, maxCount: 1 << 20).values
        let exact = zip(floats, wanted).allSatisfy { $0.isNaN ? $1.isNaN : $0 == Float($1) }
        #expect(exact, "\(file): \(name) as Float")
      }
    }
  }

  @Test(arguments: files)
  func attributesMatchH5py(file: String) throws {
    let expected = try #require(Self.expected[file])
    let hdf5 = try HDF5File.open(path: Fixtures.path("hdf5/\(file)"))
    #expect(try hdf5.attributeNames() == (expected.attributes["/"] ?? [:]).keys.sorted())
    for (object, attributes) in expected.attributes {
      for (name, attribute) in attributes {
        let value = try hdf5.attribute(name, of: object)
        switch attribute.kind {
        case "integers":
          #expect(value == .integers(attribute.values.map { Int64($0)! }), "\(file): \(object) \(name)")
        case "doubles":
          guard case .doubles(let doubles)? = value else {
            Issue.record("\(file): \(object) \(name) is \(String(describing: value))")
            continue
          }
          #expect(doubles.map(\.bitPattern) == attribute.values.map { Self.number($0).bitPattern })
        case "strings": #expect(value == .strings(attribute.values), "\(file): \(object) \(name)")
        default: #expect(value == .unsupported, "\(file): \(object) \(name)")
        }
      }
    }
    #expect(try hdf5.attribute("no such attribute") == nil)
  }

  @Test func unsupportedFeaturesAreOneLineErrorsNamingTheDataset() throws {
    let expected = try #require(Self.expected["unsupported.h5"])
    let path = Fixtures.path("hdf5/unsupported.h5")
    let hdf5 = try HDF5File.open(path: path)
    let words = ["scaleoffset": "filter 6 (scaleoffset)", "compound": "compound"]
    for name in expected.unsupported.keys.sorted() {
      let error = #expect(throws: HDF5Error.self) { try hdf5.read(name, as: Float.self, maxCount: 1 << 20) }
      #expect(error?.kind == .unsupported, "\(String(describing: error))")
      #expect(error?.path == path && error?.dataset == name && error?.operation == "read '\(name)'")
      #expect(error?.detail.contains(words[name]!) == true, "\(String(describing: error))")
      #expect(error?.description.contains("\n") == false)
    }
  }

  @Test func groupsAndTheirAttributesAreFound() throws {
    let hdf5 = try HDF5File.open(path: Fixtures.path("hdf5/attributes.h5"))
    #expect(try hdf5.groupExists("/layer"))
    #expect(try !hdf5.groupExists("/w_dataset"))
    #expect(try !hdf5.groupExists("/missing"))
    #expect(try hdf5.stringAttribute("weight_names", of: "/layer") == ["kernel:0", "bias:0"])
  }

  @Test func aFileInMemoryReadsAsOnDisk() throws {
    let path = Fixtures.path("hdf5/v0_chunked.h5")
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let onDisk = try HDF5File.open(path: path)
    let inMemory = try HDF5File.open(image: bytes, path: "memory.h5")
    #expect(try onDisk.datasetPaths() == inMemory.datasetPaths())
    for name in try onDisk.datasetPaths() {
      #expect(
        try onDisk.read(name, as: Float.self, maxCount: 1 << 20)
          == inMemory.read(name, as: Float.self, maxCount: 1 << 20))
    }
  }

  @Test func theSuperblockVersionIsWhatH5pyWrote() throws {
    for file in Self.files {
      let path = Fixtures.path("hdf5/\(file)")
      let storage = try HDF5Storage(path: path)
      let superblock = try HDF5Superblock.read(storage)
      #expect(superblock.version == Self.expected[file]?.superblock, "\(file)")
      #expect(storage.baseAddress == (file == "userblock.h5" ? 512 : 0))
    }
  }

  /// Every truncation of a small file is a one-line error or a successful read, never a crash.
  @Test func everyTruncationIsAnErrorNotACrash() throws {
    let path = Fixtures.path("hdf5/latest.h5")
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    var failures = 0
    for length in stride(from: 0, to: bytes.count, by: 7) {
      do throws(HDF5Error) {
        let file = try HDF5File.open(image: Array(bytes[0..<length]), path: "cut.h5")
        for name in try file.datasetPaths() { _ = try file.read(name, as: Float.self, maxCount: 1 << 20) }
        _ = try file.attributeNames()
      } catch {
        failures += 1
        // Without the whole 8-byte signature it is not HDF5; with it, the file ends early.
        #expect(error.kind == (length < 8 ? .wrongFormat : .truncated), "length \(length): \(error)")
        #expect(!error.description.contains("\n"))
      }
    }
    #expect(failures > 0)
  }
}

/// Seeded byte mutations of every variant file: each read ends in a value or a one-line error,
/// never a crash, a hang or an unbounded allocation (the fuzzer's job in small, run in every CI).
@Suite struct HDF5MutationTests {
  /// A fixed-seed xorshift generator, so that every run tries the same files.
  struct Generator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      return state
    }
  }

  static func exercise(_ file: HDF5File) throws(HDF5Error) {
    for name in try file.datasetPaths(maxDepth: 2) {
      _ = try? file.read(name, as: Float.self, maxCount: 1 << 20)
    }
    for name in try file.attributeNames() { _ = try file.attribute(name) }
    _ = try file.groupExists("/layer")
  }

  @Test(arguments: HDF5ReaderTests.files)
  func mutatedFilesAreReadOrRefusedInOneLine(file: String) throws {
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("hdf5/\(file)"))))
    var generator = Generator(state: 0x9E37_79B9_7F4A_7C15 ^ UInt64(original.count))
    var refused = 0
    for _ in 0..<120 {
      var bytes = original
      for _ in 0..<Int.random(in: 1...8, using: &generator) {
        let index = Int.random(in: 0..<bytes.count, using: &generator)
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: bytes[index] ^= UInt8(1 << Int.random(in: 0..<8, using: &generator))
        case 1: bytes[index] = UInt8.random(in: 0...255, using: &generator)
        default: bytes[index] = [0x00, 0xFF, 0x7F, 0x80].randomElement(using: &generator)!
        }
      }
      do throws(HDF5Error) {
        try Self.exercise(try HDF5File.open(image: bytes, path: "mutant.h5"))
      } catch {
        refused += 1
        #expect(error.description.hasPrefix("mutant.h5: "), "\(error)")
        #expect(!error.description.contains("\n"))
      }
    }
    #expect(refused > 0, "no mutation of \(file) was refused")
  }
}

/// The checksums against published values: lookup3's own test vectors (Bob Jenkins, lookup3.c,
/// `hashlittle` with seed 0) and Fletcher-32 worked by hand.
@Suite struct HDF5ChecksumTests {
  @Test func lookup3MatchesItsPublishedVectors() {
    #expect(HDF5Checksum.lookup3([][...]) == 0xdead_beef)
    #expect(HDF5Checksum.lookup3(Array("Four score and seven years ago".utf8)[...]) == 0x1777_0551)
  }

  @Test func fletcher32SumsBigEndianWords() {
    // Words 0x0102 and 0x0304: sum1 = 0x0406, sum2 = 0x0102 + 0x0406 = 0x0508.
    let sum = [UInt8]([1, 2, 3, 4]).withUnsafeBytes { HDF5Checksum.fletcher32($0) }
    #expect(sum == 0x0508_0406)
  }
}
