import CapsFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A row's identity for `--resume`: two independent 64-bit hashes of the `file` field exactly as
/// capsinfer writes it (its CSV field or JSON string literal, quotes included), so that rows are
/// matched without decoding them. 128 bits make a false match between two different paths
/// practically impossible (about 10^-25 for 10^7 rows).
struct RowKey: Comparable {
  var first: UInt64
  var second: UInt64

  /// The key of the encoded field `bytes`. The second hash is Swift's seeded SipHash: it differs
  /// between processes, which does not matter since keys never leave the process.
  init<Bytes: Collection<UInt8>>(encodedField bytes: Bytes) {
    first = Shard.fnv1a64(bytes)
    var hasher = Hasher()
    for byte in bytes { hasher.combine(byte) }
    hasher.combine(bytes.count)
    second = UInt64(bitPattern: Int64(hasher.finalize()))
  }

  static func < (a: RowKey, b: RowKey) -> Bool { (a.first, a.second) < (b.first, b.second) }
}

/// The rows already in a `--resume` output file, as a multiset of keys: 16 bytes per distinct file
/// plus 4 per count, sorted once, looked up by binary search. An input whose key is present is
/// skipped once per row (so a path listed twice in a manifest, with two rows, is skipped twice).
struct DoneRows {
  private var keys: [RowKey] = []
  private var counts: [UInt32] = []
  /// Rows read from the file.
  private(set) var rowCount = 0

  init(_ unsorted: [RowKey]) {
    rowCount = unsorted.count
    for key in unsorted.sorted() {
      if keys.last == key {
        counts[counts.count - 1] &+= 1
      } else {
        keys.append(key)
        counts.append(1)
      }
    }
  }

  /// Whether a row for `key` is still unclaimed; claims it if so.
  mutating func claim(_ key: RowKey) -> Bool {
    var low = 0
    var high = keys.count
    while low < high {
      let middle = (low + high) / 2
      if keys[middle] < key { low = middle + 1 } else { high = middle }
    }
    guard low < keys.count, keys[low] == key, counts[low] > 0 else { return false }
    counts[low] -= 1
    return true
  }
}

/// Reads the rows of an existing CSV or JSON-lines output of capsinfer, a block at a time, and finds
/// where its last complete row ends (what follows, a row torn by a kill, is to be cut off).
///
/// A CSV file must start with exactly the header this run would write (same model classes); its
/// records are RFC 4180 (a quoted field may hold line breaks). A JSON-lines file must hold one
/// `{"file":"..."...}` object per line. Anything else is refused rather than appended to.
struct RowFileScanner {
  enum Layout {
    case csv(header: [UInt8])
    case jsonl
  }

  struct Problem: Error, CustomStringConvertible {
    var description: String
  }

  struct Result {
    var keys: [RowKey]
    /// Bytes up to and including the last complete row's line break.
    var completeLength: Int
    /// The file's length when read.
    var fileLength: Int
  }

  /// The longest `file` field accepted (a path is at most PATH_MAX bytes; escapes may double it).
  static let maximumFieldBytes = 4 * Int(PATH_MAX) + 64

  let layout: Layout
  private var keys: [RowKey] = []
  private var offset = 0
  private var completeLength = 0
  private var line = 1
  // Record state.
  private var recordIndex = 0
  private var field: [UInt8] = []
  private var fieldDone = false
  private var inQuotes = false
  private var escaped = false
  private var lastByte: UInt8 = 0
  private var recordBytes = 0

  init(layout: Layout) { self.layout = layout }

  /// Scans the whole of the open file `descriptor` from its start.
  static func scan(descriptor: Int32, name: String, layout: Layout) throws(Problem) -> Result {
    var scanner = RowFileScanner(layout: layout)
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let count = buffer.withUnsafeMutableBytes { raw in
        SystemCall.retryingInterrupted { read(descriptor, raw.baseAddress, raw.count) }
      }
      if count < 0 {
        throw Problem(description: "\(name): cannot read (\(ReadableFile.errnoText(errno)))")
      }
      if count == 0 { break }
      try scanner.feed(buffer[0..<count], name: name)
    }
    return Result(keys: scanner.keys, completeLength: scanner.completeLength, fileLength: scanner.offset)
  }

  mutating func feed(_ bytes: ArraySlice<UInt8>, name: String) throws(Problem) {
    for byte in bytes {
      offset += 1
      recordBytes += 1
      switch layout {
      case .csv(let header): try csvByte(byte, header: header, name: name)
      case .jsonl: try jsonByte(byte, name: name)
      }
      lastByte = byte
    }
  }

  private func refuse(_ name: String, _ why: String) -> Problem {
    Problem(description: "\(FileName.display(name)) line \(line): \(why); not a capsinfer output to resume")
  }

  private mutating func endRecord() {
    completeLength = offset
    recordIndex += 1
    field.removeAll(keepingCapacity: true)
    fieldDone = false
    inQuotes = false
    escaped = false
    recordBytes = 0
  }

  private mutating func capture(_ byte: UInt8, name: String) throws(Problem) {
    guard field.count < Self.maximumFieldBytes else { throw refuse(name, "the file field is too long") }
    field.append(byte)
  }

  private mutating func csvByte(_ byte: UInt8, header: [UInt8], name: String) throws(Problem) {
    if byte == UInt8(ascii: "\"") { inQuotes.toggle() }
    let isHeader = recordIndex == 0
    if byte == UInt8(ascii: "\n") && !inQuotes {
      if isHeader {
        guard field == header else {
          throw refuse(name, "the header is not this model's (\(String(decoding: header, as: UTF8.self)))")
        }
      } else {
        keys.append(RowKey(encodedField: field))
      }
      line += 1
      endRecord()
      return
    }
    if byte == UInt8(ascii: "\n") { line += 1 }
    if isHeader {
      guard field.count <= header.count else { throw refuse(name, "the header is not this model's") }
      field.append(byte)
    } else if !fieldDone {
      if byte == UInt8(ascii: ",") && !inQuotes {
        fieldDone = true
      } else {
        try capture(byte, name: name)
      }
    }
  }

  private static let jsonPrefix = Array("{\"file\":".utf8)

  private mutating func jsonByte(_ byte: UInt8, name: String) throws(Problem) {
    if byte == UInt8(ascii: "\n") {
      guard fieldDone, lastByte == UInt8(ascii: "}") else {
        throw refuse(name, "not a {\"file\":...} object on one line")
      }
      keys.append(RowKey(encodedField: field))
      line += 1
      endRecord()
      return
    }
    if recordBytes <= Self.jsonPrefix.count {
      guard byte == Self.jsonPrefix[recordBytes - 1] else {
        throw refuse(name, "a row must start with {\"file\":")
      }
      return
    }
    guard !fieldDone else { return }
    if field.isEmpty {
      guard byte == UInt8(ascii: "\"") else { throw refuse(name, "the file field is not a string") }
      try capture(byte, name: name)
      return
    }
    try capture(byte, name: name)
    if escaped {
      escaped = false
    } else if byte == UInt8(ascii: "\\") {
      escaped = true
    } else if byte == UInt8(ascii: "\"") {
      fieldDone = true
    }
  }
}
