import CapsFiles

/// The bytes of an HDF5 file being read: a file on disk (positioned reads) or an image in memory.
///
/// Every read names an address range and is checked against the file size before anything is
/// allocated; metadata blocks are further bounded by `maxMetadataBlock`. Addresses in the file are
/// relative to the superblock's position (a user block may precede it).
final class HDF5Storage {
  private enum Bytes {
    case file(RandomAccessFile)
    case memory([UInt8])
  }

  /// Names the file in messages.
  let path: String
  let byteCount: Int
  private let bytes: Bytes
  /// Where address 0 lies (the superblock's offset), set once the superblock is found.
  private(set) var baseAddress = 0

  /// Largest metadata structure read in one piece (object header chunk, heap, B-tree node).
  static let maxMetadataBlock = 16 << 20
  /// Most metadata one open file may read in all: corrupt structures that point at each other
  /// cannot make the reader work (or hold memory) without end. Raw data is bounded separately.
  static let metadataBudget = 64 << 20
  private var metadataBytesRead = 0

  private func charge(_ count: Int) throws(HDF5Error) {
    metadataBytesRead += count
    guard metadataBytesRead <= Self.metadataBudget else {
      throw failure(
        .limitExceeded,
        "its structures need more than \(Self.metadataBudget >> 20) MiB of metadata reads (corrupt or cyclic)"
      )
    }
  }

  init(path: String) throws(HDF5Error) {
    do {
      let file = try RandomAccessFile(path: path)
      self.bytes = .file(file)
      self.byteCount = file.byteCount
    } catch {
      throw HDF5Error(
        error.kind, path: path, operation: "open as HDF5", detail: error.detail, offset: error.offset)
    }
    self.path = path
  }

  init(image: [UInt8], path: String) {
    self.bytes = .memory(image)
    self.byteCount = image.count
    self.path = path
  }

  /// An error about the file's content (kind ``FormatError/Kind/corrupt``); the facade (`HDF5File`)
  /// names the operation.
  func corrupt(_ detail: String, offset: Int? = nil) -> HDF5Error {
    failure(.corrupt, detail, offset: offset)
  }

  /// An error of `kind` about the file's content; the facade (`HDF5File`) names the operation.
  func failure(_ kind: HDF5Error.Kind, _ detail: String, dataset: String? = nil, offset: Int? = nil)
    -> HDF5Error
  {
    HDF5Error(kind, path: path, operation: "read", detail: detail, dataset: dataset, offset: offset)
  }

  /// A file-level read error (I/O, or bytes past the end) as an HDF5 error, keeping its kind.
  private func failure(_ error: FormatError) -> HDF5Error {
    failure(error.kind, error.detail, offset: error.offset)
  }

  func setBaseAddress(_ offset: Int) { baseAddress = offset }

  /// Reads `count` bytes at absolute file offset `offset`.
  func absoluteBytes(at offset: Int, count: Int) throws(HDF5Error) -> [UInt8] {
    guard count >= 0, offset >= 0, count <= byteCount, offset <= byteCount - count else {
      throw failure(
        .truncated, "needs bytes \(offset)..<\(offset &+ count) but the file has \(byteCount)", offset: offset
      )
    }
    switch bytes {
    case .memory(let image):
      return Array(image[offset..<(offset + count)])
    case .file(let file):
      do { return try file.bytes(at: offset, count: count) } catch { throw failure(error) }
    }
  }

  /// The absolute offset of `address` (relative to the base), checked to lie in the file with
  /// `count` bytes after it.
  func offset(of address: UInt64, count: Int, what: String) throws(HDF5Error) -> Int {
    let (absolute, overflow) = UInt64(baseAddress).addingReportingOverflow(address)
    guard !overflow, count >= 0, absolute <= UInt64(byteCount), UInt64(count) <= UInt64(byteCount) - absolute
    else {
      throw corrupt(
        "\(what) at address \(address) (\(count) bytes) lies outside the file of \(byteCount) bytes",
        offset: overflow ? nil : Int(clamping: absolute))
    }
    return Int(absolute)
  }

  /// Reads a metadata structure of `count` bytes at `address`.
  func metadata(at address: UInt64, count: Int, what: String) throws(HDF5Error) -> [UInt8] {
    guard count <= Self.maxMetadataBlock else {
      throw failure(
        .limitExceeded, "\(what) claims \(count) bytes, more than the \(Self.maxMetadataBlock) accepted",
        offset: Int(clamping: UInt64(baseAddress).addingReportingOverflow(address).partialValue))
    }
    let start = try offset(of: address, count: count, what: what)
    try charge(count)
    return try absoluteBytes(at: start, count: count)
  }

  /// Reads `count` bytes of raw data (a stored chunk) at `address`; the caller bounds `count`.
  func data(at address: UInt64, count: Int, what: String) throws(HDF5Error) -> [UInt8] {
    try absoluteBytes(at: try offset(of: address, count: count, what: what), count: count)
  }

  /// Reads up to `count` bytes at `address`, fewer where the file ends first (for structures
  /// whose size is known only after parsing their start).
  func metadataPrefix(at address: UInt64, upTo count: Int, what: String) throws(HDF5Error) -> [UInt8] {
    let start = try offset(of: address, count: 0, what: what)
    let available = min(count, byteCount - start)
    try charge(available)
    return try absoluteBytes(at: start, count: available)
  }

  /// Copies `buffer.count` bytes of raw data at `address` into `buffer`.
  func read(at address: UInt64, into buffer: UnsafeMutableRawBufferPointer, what: String) throws(HDF5Error) {
    let start = try offset(of: address, count: buffer.count, what: what)
    switch bytes {
    case .memory(let image):
      image.withUnsafeBytes { source in
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<(start + buffer.count)]))
      }
    case .file(let file):
      do { try file.read(at: start, into: buffer) } catch { throw failure(error) }
    }
  }
}

/// Little-endian fields of one HDF5 structure; every read is bounds-checked and throws
/// `HDF5Error` naming the structure.
typealias HDF5Cursor = ByteReader<HDF5Error>

extension ByteReader where Failure == HDF5Error {
  /// A cursor whose errors name `what`, of kind ``CapsFiles/ErrorKind/corrupt`` (a structure read
  /// whole whose fields run past its end is malformed), or ``CapsFiles/ErrorKind/truncated`` for
  /// bytes that end because the file does (`atEndOfFile`).
  init(_ bytes: [UInt8], at position: Int = 0, what: String, storage: HDF5Storage, atEndOfFile: Bool = false)
  {
    self.init(
      bytes, at: position, fail: { storage.corrupt("\(what): \($0)") },
      truncated: atEndOfFile ? { storage.failure(.truncated, "\(what): \($0)") } : nil)
  }

  /// An error of `kind` naming the structure like `fail` (which gives ``FormatError/Kind/corrupt``).
  func failure(_ kind: HDF5Error.Kind, _ detail: String) -> HDF5Error {
    let error = fail(detail)
    return HDF5Error(kind, path: error.path, operation: error.operation, detail: error.detail)
  }

  /// An error for a feature of the format that CapsKit does not read (kind
  /// ``FormatError/Kind/unsupported``), naming the structure like `fail`.
  func unsupported(_ detail: String) -> HDF5Error { failure(.unsupported, detail) }

  /// A 2-byte field as `Int`.
  mutating func u16() throws(HDF5Error) -> Int { Int(try uint(2)) }
  /// A 4-byte field as `Int`.
  mutating func u32() throws(HDF5Error) -> Int { Int(try uint(4)) }

  /// An unsigned field that must fit in `Int` and be at most `limit`.
  mutating func size(_ byteCount: Int, limit: Int = Int.max, _ field: String) throws(HDF5Error) -> Int {
    let value = try uint(byteCount)
    guard value <= UInt64(limit) else { throw fail("\(field) \(value) is out of range (at most \(limit))") }
    return Int(value)
  }

  /// Checks a 4-byte signature such as "OHDR".
  mutating func expectSignature(_ signature: String) throws(HDF5Error) {
    let found = try take(4)
    guard Array(found) == Array(signature.utf8) else { throw fail("bad signature (expected \(signature))") }
  }

  /// Checks the Jenkins lookup3 checksum of bytes `start..<position`, stored in the next 4 bytes.
  mutating func expectChecksum(from start: Int) throws(HDF5Error) {
    let computed = HDF5Checksum.lookup3(bytes[start..<position])
    let stored = UInt32(try uint(4))
    guard computed == stored else { throw fail("bad checksum") }
  }
}

/// A file address (relative to the base), or nil for HDF5's "undefined address" (all bits set).
typealias HDF5Address = UInt64?

extension HDF5Cursor {
  /// Reads an address of the file's offset size; nil for the undefined address.
  mutating func address(_ sizes: HDF5Sizes) throws(HDF5Error) -> HDF5Address {
    let value = try uint(sizes.offsets)
    let undefined: UInt64 = sizes.offsets == 8 ? .max : (1 << (8 * UInt64(sizes.offsets))) - 1
    return value == undefined ? nil : value
  }

  /// Reads a length of the file's length size.
  mutating func length(_ sizes: HDF5Sizes, limit: Int = Int.max, _ field: String) throws(HDF5Error) -> Int {
    try size(sizes.lengths, limit: limit, field)
  }
}

/// The sizes of offsets and lengths the superblock declares (2, 4 or 8 bytes each).
struct HDF5Sizes: Sendable {
  var offsets: Int
  var lengths: Int
}

extension Array {
  /// `withUnsafeMutableBytes` for a body that throws `HDF5Error` (the standard one is untyped).
  mutating func withHDF5Bytes(_ body: (UnsafeMutableRawBufferPointer) throws(HDF5Error) -> Void)
    throws(HDF5Error)
  {
    var failure: HDF5Error?
    withUnsafeMutableBytes { bytes in
      do throws(HDF5Error) { try body(bytes) } catch { failure = error }
    }
    if let failure { throw failure }
  }
}
