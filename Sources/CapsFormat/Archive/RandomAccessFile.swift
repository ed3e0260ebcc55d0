import CapsFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file opened read-only for positioned reads (`open`, `fstat`, `pread`); closed in `deinit`.
///
/// Every read is bounds-checked against the size seen at opening, so a caller never asks the system
/// for bytes past the end, and never allocates more than it asked for.
final class RandomAccessFile {
  let path: String
  /// Size in bytes at opening.
  let byteCount: Int
  private let descriptor: Int32

  /// Opens `path` read-only (``CapsFiles/ReadableFile``: a regular file only, so a FIFO or a device
  /// is refused before anything is read).
  init(path: String) throws(FormatError) {
    switch ReadableFile.open(path) {
    case .success(let opened):
      self.path = path
      self.descriptor = opened.descriptor
      self.byteCount = opened.byteCount
    case .failure(let failure):
      throw FormatError(failure, path: path)
    }
  }

  deinit { close(descriptor) }

  /// Reads exactly `buffer.count` bytes at `offset` (`pread(2)`); the range must lie in the file.
  func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(FormatError) {
    guard offset >= 0, buffer.count <= byteCount, offset <= byteCount - buffer.count else {
      throw FormatError(
        .truncated, path: path,
        detail: "needs bytes \(offset)..<\(offset + buffer.count) but the file has \(byteCount)",
        offset: offset)
    }
    var done = 0
    while done < buffer.count {
      let result = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
      if result < 0, errno == EINTR { continue }
      guard result > 0 else {
        let code = errno
        throw FormatError(
          result < 0 ? .io(errno: code) : .truncated, path: path,
          detail:
            "cannot read (\(result < 0 ? String(cString: strerror(code)) : "file shrank while reading"))",
          offset: offset + done)
      }
      done += result
    }
  }

  /// Reads `count` bytes at `offset` into a new array (allocates `count` bytes).
  func bytes(at offset: Int, count: Int) throws(FormatError) -> [UInt8] {
    guard count >= 0, count <= byteCount else {
      throw FormatError(
        .truncated, path: path,
        detail: "needs \(count) bytes at offset \(offset) but the file has \(byteCount)",
        offset: offset)
    }
    var result = [UInt8](repeating: 0, count: count)
    var failure: FormatError?
    result.withUnsafeMutableBytes { buffer in
      do throws(FormatError) { try read(at: offset, into: buffer) } catch { failure = error }
    }
    if let failure { throw failure }
    return result
  }
}

/// Little-endian field access into a byte array, with bounds checks that throw instead of trapping.
/// `fail` turns a problem ("has a field of 9 bytes") into the reader's error, which names the file
/// and the structure (the ZIP reader's `FormatError`, the HDF5 reader's `HDF5Error`); `truncated`
/// (by default `fail`) does the same when the bytes end before a field ("truncated (needs 4 more
/// bytes)"), for a reader whose bytes are the end of the file (the HDF5 superblock's).
struct ByteReader<Failure: Error> {
  let bytes: [UInt8]
  var position: Int
  let fail: (String) -> Failure
  let truncated: (String) -> Failure

  init(
    _ bytes: [UInt8], at position: Int = 0, fail: @escaping (String) -> Failure,
    truncated: ((String) -> Failure)? = nil
  ) {
    self.bytes = bytes
    self.position = position
    self.fail = fail
    self.truncated = truncated ?? fail
  }

  var remaining: Int { bytes.count - position }

  mutating func skip(_ count: Int) throws(Failure) {
    guard count >= 0, count <= remaining else { throw truncated("truncated (needs \(count) more bytes)") }
    position += count
  }

  mutating func take(_ count: Int) throws(Failure) -> ArraySlice<UInt8> {
    guard count >= 0, count <= remaining else { throw truncated("truncated (needs \(count) more bytes)") }
    defer { position += count }
    return bytes[position..<(position + count)]
  }

  /// An unsigned integer of `byteCount` (0...8) bytes.
  mutating func uint(_ byteCount: Int) throws(Failure) -> UInt64 {
    guard byteCount <= 8 else { throw fail("has a field of \(byteCount) bytes") }
    var value: UInt64 = 0
    for (shift, byte) in try take(byteCount).enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
    return value
  }

  mutating func uint8() throws(Failure) -> UInt8 { UInt8(try uint(1)) }
  mutating func uint16() throws(Failure) -> UInt16 { UInt16(try uint(2)) }
  mutating func uint32() throws(Failure) -> UInt32 { UInt32(try uint(4)) }
  mutating func uint64() throws(Failure) -> UInt64 { try uint(8) }
}

extension ByteReader where Failure == FormatError {
  /// A reader whose errors say "<context> is truncated (...)" about `path`, of kind
  /// ``CapsFiles/ErrorKind/corrupt``: the structure was read whole, so a field past its end is a
  /// malformed structure (a file that ends early is found before, by its size).
  init(_ bytes: [UInt8], at position: Int = 0, context: String, path: String) {
    self.init(bytes, at: position) { FormatError(.corrupt, path: path, detail: "\(context) is \($0)") }
  }
}
