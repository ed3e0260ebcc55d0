import CapsFiles
import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat

/// Hostile pickles and malformed archives are refused with one clear line, and nothing runs.
@Suite(.serialized) struct PthSafetyTests {
  /// What the hostile payloads of Fixtures/pth would create if anything executed them.
  static let sentinel = "/tmp/capskit-hostile-pickle-ran"

  @Test(arguments: [
    ("hostile_system.pth", "the global 'posix.system'"),  // os.system pickles as posix.system on Linux
    ("hostile_eval.pth", "the global 'builtins.eval'"),  // protocol 4: STACK_GLOBAL
    ("hostile_nested.pth", "the global 'posix.system'"),  // hidden as one entry of a real state_dict
    ("hostile_legacy.pth", "the global 'posix.system'"),  // the pre-1.6 stream format
  ])
  func hostilePicklesAreRefusedNamingTheGlobal(file: String, global: String) throws {
    try? FileManager.default.removeItem(atPath: Self.sentinel)
    let path = Fixtures.path("pth/\(file)")
    let error = try #require(readFailure(path))
    #expect(error.kind == .unsafeContent, "\(error)")
    #expect(error.path == path)
    #expect(error.detail.contains("refused \(global)"), "\(error)")
    #expect(!error.description.contains("\n"))
    #expect(!FileManager.default.fileExists(atPath: Self.sentinel))
  }

  /// The golden line of the family: the entry, the global, and that nothing ran.
  @Test func aRefusalSaysWhatWasRefusedAndThatNothingRan() throws {
    let path = Fixtures.path("pth/hostile_system.pth")
    let error = try #require(readFailure(path))
    #expect(error.tensor == "hostile_system/data.pkl")
    #expect(
      error.description
        == "\(path): hostile_system/data.pkl: refused the global 'posix.system': a state_dict needs only tensors, dicts and plain values; nothing was executed"
    )
  }

  @Test(
    arguments: [
      ("traversal.pth", ErrorKind.unsafeContent, nil),
      ("deflated.pth", .unsupported, "tiny/byteorder"),
      ("lying_size.pth", .corrupt, nil),
      ("size_mismatch.pth", .corrupt, "module.conv1.weight"),
    ] as [(String, ErrorKind, String?)])
  func malformedArchivesAreRefused(file: String, kind: ErrorKind, entry: String?) throws {
    let path = Fixtures.path("pth/\(file)")
    let error = try #require(readFailure(path))
    #expect(error.kind == kind, "\(error)")
    #expect(error.path == path)
    #expect(error.tensor == entry, "\(error)")
    #expect(!error.description.contains("\n"))
  }

  /// The golden line of the family.
  @Test func aMalformedArchiveIsNamedWithItsEntry() throws {
    let path = Fixtures.path("pth/lying_size.pth")
    #expect(
      readFailure(path)?.description
        == "\(path): ZIP entry 'tiny/data/4' claims 2147418112 bytes at offset 45094, past the data area (82140 bytes)"
    )
  }

  /// Copies tiny.pth, lets `change` edit the bytes, and returns the error reading it.
  private func failureAfterEditing(_ change: (inout [UInt8]) -> Void) throws -> FormatError? {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pth/tiny.pth"))))
    change(&bytes)
    let path = folder.appendingPathComponent("edited.pth").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return readFailure(path)
  }

  private func offset(of entry: String) throws -> Int {
    let archive = try ZipArchive(path: Fixtures.path("pth/tiny.pth"))
    return try #require(archive.entry(named: entry)).dataOffset
  }

  @Test func corruptDataFailsTheChecksum() throws {
    let start = try offset(of: "tiny/data/2")
    let error = try #require(try failureAfterEditing { $0[start + 100] ^= 0x01 })
    #expect(error.kind == .corrupt && error.tensor == "tiny/data/2" && error.offset == start, "\(error)")
    #expect(error.detail.hasPrefix("ZIP entry 'tiny/data/2' is corrupt (CRC-32"), "\(error)")
  }

  @Test func truncatedArchivesAreRefused() throws {
    #expect(try failureAfterEditing { $0.removeLast($0.count / 2) }?.kind == .truncated)
    #expect(try failureAfterEditing { $0.removeLast(30) }?.kind == .truncated)
    #expect(try failureAfterEditing { $0 = Array($0.prefix(10)) }?.kind == .truncated)
  }

  @Test func anAbsurdEntryCountIsRefusedBeforeReadingTheDirectory() throws {
    // The 32-bit end record is the last 22 bytes; point it at 60,000 entries (the directory is too small).
    let error = try failureAfterEditing { bytes in
      let end = bytes.count - 22
      bytes[end + 8] = 0x60
      bytes[end + 9] = 0xEA
      bytes[end + 10] = 0x60
      bytes[end + 11] = 0xEA
    }
    #expect(error?.kind == .corrupt, "\(String(describing: error))")
  }

  // MARK: The unpickler on hand-written streams

  /// The kind of the decoded root ("list", "tuple", ...).
  private func unpickle(_ bytes: [UInt8]) -> String {
    do {
      let graph = try Unpickler.load(bytes, entry: "x/data.pkl", path: "test.pth")
      return graph.kind(of: graph.root)
    } catch {
      return error.description
    }
  }

  /// The error decoding `bytes` (an archive entry); nil (and a recorded issue) when they decode.
  private func refusal(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> FormatError? {
    do {
      _ = try Unpickler.load(bytes, entry: "x/data.pkl", path: "test.pth")
      Issue.record("decoded without error", sourceLocation: sourceLocation)
      return nil
    } catch {
      #expect(error.path == "test.pth" && error.tensor == "x/data.pkl", sourceLocation: sourceLocation)
      #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
      return error
    }
  }

  @Test func hostileOpcodesAreRefused() {
    // Protocol 0's text opcodes are not read at all.
    #expect(refusal(Array("(S'ls'\nios\nsystem\n.".utf8))?.kind == .unsupported)
    // INST names its class inline: protocol 0's way to call os.system.
    let inst = refusal(Array("(ios\nsystem\n.".utf8))
    #expect(inst?.kind == .unsafeContent)
    #expect(inst?.detail.hasPrefix("x/data.pkl: refused the global 'os.system' (opcode INST)") == true)
    #expect(refusal([0x80, 2, 0x63] + Array("subprocess\nPopen\n".utf8) + [0x2E])?.kind == .unsafeContent)
    #expect(refusal([0x80, 4, 0x28, 0x6F, 0x2E])?.kind == .unsafeContent)  // OBJ
    #expect(refusal([0x80, 2, 0x82, 1, 0x2E])?.kind == .unsafeContent)  // EXT1
    // An allowed global may only be interpreted, never called on other arguments.
    let storageCall: [UInt8] = [0x80, 2, 0x63] + Array("torch\nFloatStorage\n".utf8) + [0x29, 0x52, 0x2E]
    let call = refusal(storageCall)
    #expect(call?.kind == .unsafeContent)
    #expect(call?.detail.hasPrefix("x/data.pkl: refused a call of torch.FloatStorage") == true)
  }

  @Test func malformedStreamsFailCleanly() {
    // In an archive entry (read whole, CRC-checked) a pickle that ends early is corrupt, not truncated.
    #expect(refusal([0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0x7F])?.kind == .corrupt)  // a 2 GiB string
    #expect(refusal([0x80, 2, 0x68, 7, 0x2E])?.kind == .corrupt)  // memo entry 7, never written
    #expect(refusal([0x80, 2, 0x2E])?.kind == .corrupt)  // STOP on an empty stack
    #expect(refusal([0x80, 2, 0x4E])?.kind == .corrupt)  // no STOP
    #expect(refusal([0x80, 9])?.kind == .unsupported)  // protocol 9
    #expect(refusal([0x80, 2, 0x4E, 0x61, 0x2E])?.kind == .corrupt)  // APPEND on an empty stack
    #expect(refusal([0x80, 2, 0x5D, 0x4E, 0x4E, 0x73, 0x2E])?.kind == .corrupt)  // SETITEM on a list
    // A list appended to itself is harmless: containers are referenced by index.
    #expect(unpickle([0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E]) == "list")
    // Deep nesting does not recurse: 20,000 nested 1-tuples (within the budget of their pickle).
    let deep: [UInt8] = [0x80, 2, 0x29] + [UInt8](repeating: 0x85, count: 20_000) + [0x2E]
    #expect(unpickle(deep) == "tuple")
  }

  // MARK: Budgets: memory and work bounded by the pickle's size

  /// Pickle bombs of issue 12, at a fraction of the sizes found (each one byte-cheap opcode
  /// repeated, or a large value reused). Unbudgeted, the sizes found took 500 MB to over 3 GB or 21
  /// minutes of CPU; now every bomb stops at its budget, whatever its size.
  @Test func pickleBombsAreRefusedByTheBudget() {
    /// Refused by the memory (or the work) budget: kind limitExceeded, and which budget.
    func refusedBy(_ budget: String, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation)
      -> Bool
    {
      guard let error = refusal(bytes, sourceLocation: sourceLocation) else { return false }
      return error.kind == .limitExceeded && error.detail.contains(budget)
    }
    let memory = "MiB of objects, the budget for a pickle of"
    let work = "steps of work (copying and hashing), the budget for a pickle of"
    // 1 MB of TUPLE1: a million nested tuples (4 MB took 500 MB).
    #expect(refusedBy(memory, [0x80, 2, 0x29] + [UInt8](repeating: 0x85, count: 1 << 20) + [0x2E]))
    // 2 MB of EMPTY_LIST: two million lists on the stack (16 MB took 1.34 GB).
    #expect(refusedBy(memory, [0x80, 2] + [UInt8](repeating: 0x5D, count: 2 << 20) + [0x2E]))
    // _codecs.encode of one memoised 1 MB string, 64 times (8 MB, repeated, took over 3 GB).
    let big = 1 << 20
    var encode: [UInt8] = [0x80, 2, 0x58] + littleEndian(UInt32(big))
    encode.append(contentsOf: repeatElement(0x61, count: big))
    encode += [0x71, 0, 0x30]  // BINPUT 0, POP
    let call: [UInt8] =
      [0x63] + Array("_codecs\nencode\n".utf8) + [0x68, 0, 0x8C, 6] + Array("latin1".utf8) + [
        0x86, 0x52, 0x30,
      ]
    for _ in 0..<64 { encode.append(contentsOf: call) }  // GLOBAL, BINGET 0, 'latin1', TUPLE2, REDUCE, POP
    #expect(refusedBy(memory, encode + [0x4E, 0x2E]))
    // An OrderedDict rebuilt 500 times from one memoised 20k-pair list (2,000 x 200k took 3.4 GB).
    var rebuild: [UInt8] = [0x80, 2, 0x5D, 0x71, 0, 0x28]
    for key in 0..<20_000 { rebuild.append(contentsOf: [0x4A] + littleEndian(UInt32(key)) + [0x4E, 0x86]) }
    rebuild.append(0x65)  // APPENDS
    let rebuildCall: [UInt8] =
      [0x63] + Array("collections\nOrderedDict\n".utf8) + [0x68, 0, 0x85, 0x52, 0x30]
    for _ in 0..<500 { rebuild.append(contentsOf: rebuildCall) }
    #expect(refusedBy(memory, rebuild + [0x2E]))
    // One 1 MB key set 50,000 times in a dict: every SETITEM hashes it again (8 MB x 400k took 21 minutes).
    var rehash: [UInt8] = [0x80, 2, 0x7D, 0x58] + littleEndian(UInt32(big))
    rehash.append(contentsOf: repeatElement(0x61, count: big))
    rehash += [0x71, 0, 0x30]
    for _ in 0..<50_000 { rehash.append(contentsOf: [0x68, 0, 0x4E, 0x73]) }
    #expect(refusedBy(work, rehash + [0x2E]))
  }

  private func littleEndian(_ value: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
  }

  @Test func aViewRepeatingItsStorageIsRefused() {
    // _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 1), 0, (16384, 16384), (0, 0), ...):
    // one float viewed as 2^28 (was read as 1 GiB).
    var stream: [UInt8] = [0x80, 2, 0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]
    stream += [0x28, 0x8C, 7] + Array("storage".utf8) + [0x63] + Array("torch\nFloatStorage\n".utf8)
    stream += [0x8C, 1, 0x30, 0x8C, 3] + Array("cpu".utf8) + [0x4B, 1, 0x74, 0x51]
    stream += [
      0x4B, 0, 0x4D, 0, 0x40, 0x4D, 0, 0x40, 0x86, 0x4B, 0, 0x4B, 0, 0x86, 0x89, 0x4E, 0x74, 0x52, 0x2E,
    ]
    let error = refusal(stream)
    #expect(error?.kind == .limitExceeded, "\(String(describing: error))")
    // The golden line of the family.
    #expect(
      error?.description
        == "test.pth: x/data.pkl: a tensor view of size [16384, 16384] (stride [0, 0]) has 268435456 elements, but storage '0' holds 1: more than 1048576 repeated elements (stride 0, expand()) are not read; save the tensor with .contiguous()"
    )
  }

  @Test func aTensorViewPastItsStorageIsRefused() {
    // _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 4), offset 2, size (3,), stride (1,), ...)
    var stream: [UInt8] = [0x80, 2, 0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]
    stream += [0x28, 0x8C, 7] + Array("storage".utf8) + [0x63] + Array("torch\nFloatStorage\n".utf8)
    stream += [0x8C, 1, 0x30, 0x8C, 3] + Array("cpu".utf8) + [0x4B, 4, 0x74, 0x51]
    stream += [0x4B, 2, 0x4B, 3, 0x85, 0x4B, 1, 0x85, 0x89, 0x4E, 0x74, 0x52, 0x2E]
    #expect(refusal(stream)?.kind == .corrupt)
  }

  // MARK: Mutations: every outcome is a value or a typed error, never a trap

  /// Random byte changes and truncations of a real state_dict pickle.
  @Test func mutatedPicklesNeverCrash() throws {
    let archive = try ZipArchive(path: Fixtures.path("pth/tiny.pth"))
    let entry = try #require(archive.entry(named: "tiny/data.pkl"))
    let original = try archive.contents(of: entry, maxByteCount: 1 << 20)
    var random = SeededGenerator(seed: 6)
    var decoded = 0
    for round in 0..<3000 {
      var bytes = original
      if round % 10 == 0 {
        bytes.removeLast(Int.random(in: 1..<bytes.count, using: &random))
      } else {
        for _ in 0..<Int.random(in: 1...3, using: &random) {
          bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
        }
      }
      if (try? Unpickler.load(bytes, entry: "tiny/data.pkl", path: "mutated.pth")) != nil { decoded += 1 }
    }
    // Some mutations only change a value (a digit of a size, a key's letter) and still decode.
    #expect(decoded > 0 && decoded < 3000)
  }

  /// Random byte changes in the ZIP structures (local headers, central directory, end records).
  @Test func mutatedArchiveRecordsNeverCrash() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pth/tiny_zip64.pth"))))
    let archive = try ZipArchive(path: Fixtures.path("pth/tiny_zip64.pth"))
    // Where the records are: before each entry's data, and everything after the last entry's data.
    var regions = archive.entries.map { $0.localHeaderOffset..<$0.dataOffset }
    let dataEnd = archive.entries.map { $0.dataOffset + $0.byteCount }.max() ?? 0
    regions.append(dataEnd..<original.count)
    let path = folder.appendingPathComponent("mutated.pth").path
    var random = SeededGenerator(seed: 64)
    var outcomes: [String: Int] = [:]
    for _ in 0..<400 {
      var bytes = original
      let region = regions[Int.random(in: 0..<regions.count, using: &random)]
      for _ in 0..<Int.random(in: 1...2, using: &random) {
        bytes[Int.random(in: region, using: &random)] = UInt8.random(in: 0...255, using: &random)
      }
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      do {
        let source = try PthTensorSource(path: path)
        for name in source.tensorNames() { _ = try source.read(name, maxCount: 1 << 20) }
        outcomes["read", default: 0] += 1
      } catch {
        #expect(!error.description.contains("\n"))
        outcomes["refused", default: 0] += 1
      }
    }
    #expect(outcomes["refused", default: 0] > 0)
  }

  @Test func truncatedLegacyFilesAreRefused() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pth/legacy.pth")))
    for keep in [bytes.count - 1, bytes.count / 2, 400, 20] {
      let path = folder.appendingPathComponent("cut\(keep).pth").path
      try bytes.prefix(keep).write(to: URL(fileURLWithPath: path))
      let error = try #require(readFailure(path))
      #expect(error.kind == .truncated && error.path == path, "\(error)")
      #expect(!error.description.contains("\n"))
    }
  }
}
