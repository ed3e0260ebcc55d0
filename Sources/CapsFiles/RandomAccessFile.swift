#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why a positioned read failed, in words without the path; the reader turns it into its own error.
package struct ReadFailure: Error, Sendable, CustomStringConvertible {
  package enum Kind: Sendable, Equatable {
    /// The file could not be opened or is not a regular file (``ReadableFile/Failure``).
    case cannotOpen
    /// The bytes asked for lie (partly) past the end of the file as it was at opening.
    case beyondEnd
    /// `pread` failed, or the file shrank while reading.
    case readError
  }

  package let kind: Kind
  /// `errno` of the failed call, 0 when there was none.
  package let code: Int32
  package let description: String
  /// The kind for the caller's error: the opening failure's (``ErrorKind/notFound``,
  /// ``ErrorKind/notRegularFile``, ``ErrorKind/io(errno:)``), ``ErrorKind/truncated`` for bytes past
  /// the end or a file that shrank while read, ``ErrorKind/io(errno:)`` for a failed `pread`.
  package let errorKind: ErrorKind
}

/// A file opened read-only for positioned reads (`open`, `fstat`, `pread`); closed in `deinit`.
/// The one implementation of positioned reads: the model readers (CapsFormat, whose
/// `RandomAccessFile` is this type throwing `FormatError`) and whole-file reads (CapsImage) use it.
///
/// Every read is bounds-checked against the size seen at opening, so a caller never asks the system
/// for bytes past the end, and never allocates more than it asked for. `fail` turns a
/// ``ReadFailure`` into the caller's error (naming the file).
package final class RandomAccessFile<Failure: Error> {
  package let path: String
  /// Size in bytes at opening.
  package let byteCount: Int
  private let descriptor: Int32
  private let fail: (ReadFailure) -> Failure

  /// Opens `path` read-only (``ReadableFile``: a regular file only, so a FIFO or a device is
  /// refused before anything is read).
  package init(path: String, fail: @escaping (ReadFailure) -> Failure) throws(Failure) {
    switch ReadableFile.open(path) {
    case .success(let opened):
      self.path = path
      self.descriptor = opened.descriptor
      self.byteCount = opened.byteCount
      self.fail = fail
    case .failure(let failure):
      throw fail(
        ReadFailure(
          kind: .cannotOpen, code: failure.code, description: failure.description, errorKind: failure.kind))
    }
  }

  deinit { close(descriptor) }

  /// Reads exactly `buffer.count` bytes at `offset` (`pread(2)`); the range must lie in the file.
  package func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) {
    guard offset >= 0, buffer.count <= byteCount, offset <= byteCount - buffer.count else {
      throw fail(
        ReadFailure(
          kind: .beyondEnd, code: 0,
          description: "needs bytes \(offset)..<\(offset + buffer.count) but the file has \(byteCount)",
          errorKind: .truncated))
    }
    var done = 0
    while done < buffer.count {
      let result = SystemCall.retryingInterrupted {
        pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
      }
      guard result > 0 else {
        let code = result < 0 ? errno : 0
        let reason = result < 0 ? ReadableFile.errnoText(code) : "file shrank while reading"
        throw fail(
          ReadFailure(
            kind: .readError, code: code, description: "cannot read (\(reason))",
            errorKind: result < 0 ? .io(errno: code) : .truncated))
      }
      done += result
    }
  }

  /// Reads `count` bytes at `offset` into a new array (allocates `count` bytes).
  package func bytes(at offset: Int, count: Int) throws(Failure) -> [UInt8] {
    guard count >= 0, count <= byteCount else {
      throw fail(
        ReadFailure(
          kind: .beyondEnd, code: 0,
          description: "needs \(count) bytes at offset \(offset) but the file has \(byteCount)",
          errorKind: .truncated))
    }
    var result = [UInt8](repeating: 0, count: count)
    var failure: Failure?
    result.withUnsafeMutableBytes { buffer in
      do throws(Failure) { try read(at: offset, into: buffer) } catch { failure = error }
    }
    if let failure { throw failure }
    return result
  }
}

/// Little-endian field access into a byte array, with bounds checks that throw instead of trapping.
/// `fail` turns a problem ("has a field of 9 bytes") into the reader's error, which names the file
/// and the structure (the ZIP reader's `FormatError`, the HDF5 reader's `HDF5Error`); `truncated`
/// (by default `fail`) does the same when the bytes end before a field ("truncated (needs 4 more
/// bytes)"), for a reader whose bytes are the end of the file (the HDF5 superblock's), so that its
/// error can say the file is truncated, not corrupt.
package struct ByteReader<Failure: Error> {
  package let bytes: [UInt8]
  package var position: Int
  package let fail: (String) -> Failure
  package let truncated: (String) -> Failure

  package init(
    _ bytes: [UInt8], at position: Int = 0, fail: @escaping (String) -> Failure,
    truncated: ((String) -> Failure)? = nil
  ) {
    self.bytes = bytes
    self.position = position
    self.fail = fail
    self.truncated = truncated ?? fail
  }

  package var remaining: Int { bytes.count - position }

  package mutating func skip(_ count: Int) throws(Failure) {
    guard count >= 0, count <= remaining else { throw truncated("truncated (needs \(count) more bytes)") }
    position += count
  }

  package mutating func take(_ count: Int) throws(Failure) -> ArraySlice<UInt8> {
    guard count >= 0, count <= remaining else { throw truncated("truncated (needs \(count) more bytes)") }
    defer { position += count }
    return bytes[position..<(position + count)]
  }

  /// An unsigned integer of `byteCount` (0...8) bytes.
  package mutating func uint(_ byteCount: Int) throws(Failure) -> UInt64 {
    guard byteCount <= 8 else { throw fail("has a field of \(byteCount) bytes") }
    var value: UInt64 = 0
    for (shift, byte) in try take(byteCount).enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
    return value
  }

  package mutating func uint8() throws(Failure) -> UInt8 { UInt8(try uint(1)) }
  package mutating func uint16() throws(Failure) -> UInt16 { UInt16(try uint(2)) }
  package mutating func uint32() throws(Failure) -> UInt32 { UInt32(try uint(4)) }
  package mutating func uint64() throws(Failure) -> UInt64 { try uint(8) }
}
