import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat

/// Hostile pickles and malformed archives are refused with one clear line, and nothing runs.
@Suite(.serialized) struct PthSafetyTests {
  /// What the hostile payloads of Fixtures/pth would create if anything executed them.
  static let sentinel = "/tmp/capskit-hostile-pickle-ran"

  private func message(_ path: String) -> String { readError(path) }

  @Test(arguments: [
    ("hostile_system.pth", "the global 'posix.system'"),  // os.system pickles as posix.system on Linux
    ("hostile_eval.pth", "the global 'builtins.eval'"),  // protocol 4: STACK_GLOBAL
    ("hostile_nested.pth", "the global 'posix.system'"),  // hidden as one entry of a real state_dict
    ("hostile_legacy.pth", "the global 'posix.system'"),  // the pre-1.6 stream format
  ])
  func hostilePicklesAreRefusedNamingTheGlobal(file: String, global: String) throws {
    try? FileManager.default.removeItem(atPath: Self.sentinel)
    let path = Fixtures.path("pth/\(file)")
    let text = message(path)
    #expect(text.hasPrefix("\(path): "))
    #expect(text.contains("refused \(global)"), "\(text)")
    #expect(text.contains("nothing was executed"))
    #expect(!text.contains("\n"))
    #expect(!FileManager.default.fileExists(atPath: Self.sentinel))
  }

  @Test(arguments: [
    ("traversal.pth", "ZIP entry name '../escaped.txt' escapes the archive (path traversal)"),
    ("deflated.pth", "is compressed (deflate)"),
    ("lying_size.pth", "ZIP entry 'tiny/data/4' claims 2147418112 bytes"),
    ("size_mismatch.pth", "entry 'tiny/data/0' has 2592 bytes, but the pickle gives 649 elements of float32"),
  ])
  func malformedArchivesAreRefused(file: String, expected: String) {
    let path = Fixtures.path("pth/\(file)")
    let text = message(path)
    #expect(text.hasPrefix("\(path): "))
    #expect(text.contains(expected), "\(text)")
    #expect(!text.contains("\n"))
  }

  /// Copies tiny.pth, lets `change` edit the bytes, and returns the error reading it.
  private func messageAfterEditing(_ change: (inout [UInt8]) -> Void) throws -> String {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pth/tiny.pth"))))
    change(&bytes)
    let path = folder.appendingPathComponent("edited.pth").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return message(path)
  }

  private func offset(of entry: String) throws -> Int {
    let archive = try ZipArchive(path: Fixtures.path("pth/tiny.pth"))
    return try #require(archive.entry(named: entry)).dataOffset
  }

  @Test func corruptDataFailsTheChecksum() throws {
    let start = try offset(of: "tiny/data/2")
    let text = try messageAfterEditing { $0[start + 100] ^= 0x01 }
    #expect(text.contains("ZIP entry 'tiny/data/2' is corrupt (CRC-32"), "\(text)")
  }

  @Test func truncatedArchivesAreRefused() throws {
    #expect(try messageAfterEditing { $0.removeLast($0.count / 2) }.contains("not a ZIP archive"))
    #expect(try messageAfterEditing { $0.removeLast(30) }.contains("ZIP"))
    #expect(try messageAfterEditing { $0 = Array($0.prefix(10)) }.contains("not a ZIP archive"))
  }

  @Test func anAbsurdEntryCountIsRefusedBeforeReadingTheDirectory() throws {
    // The 32-bit end record is the last 22 bytes; point it at 60,000 entries (the directory is too small).
    let text = try messageAfterEditing { bytes in
      let end = bytes.count - 22
      bytes[end + 8] = 0x60
      bytes[end + 9] = 0xEA
      bytes[end + 10] = 0x60
      bytes[end + 11] = 0xEA
    }
    #expect(text.contains("ZIP"), "\(text)")
  }

  // MARK: The unpickler on hand-written streams

  private func unpickle(_ bytes: [UInt8]) -> String {
    do {
      let graph = try Unpickler.load(bytes, entry: "x/data.pkl", path: "test.pth")
      return graph.kind(of: graph.root)
    } catch {
      return error.description
    }
  }

  @Test func hostileOpcodesAreRefused() {
    // INST names its class inline: protocol 0's way to call os.system.
    #expect(unpickle(Array("(S'ls'\nios\nsystem\n.".utf8)).contains("text opcode 'S'"))
    #expect(unpickle(Array("(ios\nsystem\n.".utf8)).contains("refused the global 'os.system' (opcode INST)"))
    #expect(
      unpickle([0x80, 2, 0x63] + Array("subprocess\nPopen\n".utf8) + [0x2E]).contains("'subprocess.Popen'"))
    #expect(unpickle([0x80, 4, 0x28, 0x6F, 0x2E]).contains("opcode OBJ"))
    #expect(unpickle([0x80, 2, 0x82, 1, 0x2E]).contains("extension-registry"))
    // An allowed global may only be interpreted, never called on other arguments.
    let storageCall: [UInt8] = [0x80, 2, 0x63] + Array("torch\nFloatStorage\n".utf8) + [0x29, 0x52, 0x2E]
    #expect(unpickle(storageCall).contains("refused a call of torch.FloatStorage"))
  }

  @Test func malformedStreamsFailCleanly() {
    #expect(unpickle([0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0x7F]).contains("claims 2147483647 bytes"))
    #expect(unpickle([0x80, 2, 0x68, 7, 0x2E]).contains("memo entry 7"))
    #expect(unpickle([0x80, 2, 0x2E]).contains("empty stack"))
    #expect(unpickle([0x80, 2, 0x4E]).contains("ends without STOP"))
    #expect(unpickle([0x80, 9]).contains("protocol 9"))
    #expect(unpickle([0x80, 2, 0x4E, 0x61, 0x2E]).contains("empty stack"))
    #expect(unpickle([0x80, 2, 0x5D, 0x4E, 0x4E, 0x73, 0x2E]).contains("not a dict"))
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
    let memory = "MiB of objects, the budget for a pickle of"
    let work = "steps of work (copying and hashing), the budget for a pickle of"
    // 1 MB of TUPLE1: a million nested tuples (4 MB took 500 MB).
    #expect(unpickle([0x80, 2, 0x29] + [UInt8](repeating: 0x85, count: 1 << 20) + [0x2E]).contains(memory))
    // 2 MB of EMPTY_LIST: two million lists on the stack (16 MB took 1.34 GB).
    #expect(unpickle([0x80, 2] + [UInt8](repeating: 0x5D, count: 2 << 20) + [0x2E]).contains(memory))
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
    #expect(unpickle(encode + [0x4E, 0x2E]).contains(memory))
    // An OrderedDict rebuilt 500 times from one memoised 20k-pair list (2,000 x 200k took 3.4 GB).
    var rebuild: [UInt8] = [0x80, 2, 0x5D, 0x71, 0, 0x28]
    for key in 0..<20_000 { rebuild.append(contentsOf: [0x4A] + littleEndian(UInt32(key)) + [0x4E, 0x86]) }
    rebuild.append(0x65)  // APPENDS
    let rebuildCall: [UInt8] =
      [0x63] + Array("collections\nOrderedDict\n".utf8) + [0x68, 0, 0x85, 0x52, 0x30]
    for _ in 0..<500 { rebuild.append(contentsOf: rebuildCall) }
    #expect(unpickle(rebuild + [0x2E]).contains(memory))
    // One 1 MB key set 50,000 times in a dict: every SETITEM hashes it again (8 MB x 400k took 21 minutes).
    var rehash: [UInt8] = [0x80, 2, 0x7D, 0x58] + littleEndian(UInt32(big))
    rehash.append(contentsOf: repeatElement(0x61, count: big))
    rehash += [0x71, 0, 0x30]
    for _ in 0..<50_000 { rehash.append(contentsOf: [0x68, 0, 0x4E, 0x73]) }
    #expect(unpickle(rehash + [0x2E]).contains(work))
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
    let text = unpickle(stream)
    #expect(
      text.contains("has 268435456 elements, but storage '0' holds 1: more than 1048576 repeated"), "\(text)")
  }

  @Test func aTensorViewPastItsStorageIsRefused() {
    // _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 4), offset 2, size (3,), stride (1,), ...)
    var stream: [UInt8] = [0x80, 2, 0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]
    stream += [0x28, 0x8C, 7] + Array("storage".utf8) + [0x63] + Array("torch\nFloatStorage\n".utf8)
    stream += [0x8C, 1, 0x30, 0x8C, 3] + Array("cpu".utf8) + [0x4B, 4, 0x74, 0x51]
    stream += [0x4B, 2, 0x4B, 3, 0x85, 0x4B, 1, 0x85, 0x89, 0x4E, 0x74, 0x52, 0x2E]
    #expect(unpickle(stream).contains("reaches element 4 of storage '0', which has 4"))
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
      let text = message(path)
      #expect(text.hasPrefix("\(path): "), "\(text)")
      #expect(!text.contains("\n"))
    }
  }
}
