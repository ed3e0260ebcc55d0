#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// What went wrong reading or writing a file, for programmatic handling: the one vocabulary of
/// kinds shared by every CapsKit error about a file (``FileFailure``, `CapsFormat`'s `FormatError`
/// and `HDF5Error`, `CapsImage`'s `ImageError`), as GRDB's `ResultCode` is shared by its errors.
/// Each error type uses the kinds that can happen to it; a kind means the same wherever it appears.
/// docs/RELIABILITY.md ("Error kinds") lists them with the exit code each gives in the tools.
public enum ErrorKind: Hashable, Sendable {
  // MARK: The file system

  /// The file (or the folder it should be written to) does not exist.
  case notFound
  /// The path names a FIFO, a device, a socket or a directory, where a regular file is needed.
  case notRegularFile
  /// A system call failed (`errno`: permission, I/O error, disk full, ...); nil when the library
  /// that failed (libhdf5, libpng's reader) does not say.
  case io(errno: Int32?)
  /// The output file exists and replacing it was not asked for.
  case exists
  /// The output is one of the inputs.
  case sameAsInput
  /// The path cannot name a file (empty name, `.`, `..`).
  case invalidPath

  // MARK: The file's content

  /// The file is not of a format CapsKit reads (another format, no HDF5 or PNG signature).
  case wrongFormat
  /// The file, or a structure in it, ends before the data it declares.
  case truncated
  /// A structure is malformed: a bad signature, checksum or CRC, a field out of range, a cycle.
  case corrupt
  /// The file uses a feature of its format that CapsKit does not implement (a version, a filter,
  /// a data type, a pickle opcode).
  case unsupported
  /// A size or count exceeds a bound CapsKit sets (elements, entries, pixels, metadata, memory).
  case limitExceeded
  /// Content refused as a possible attack (a pickle global or arbitrary object, a ZIP name that
  /// escapes the archive): nothing was executed or extracted.
  case unsafeContent
  /// The file is well formed but does not hold what was asked for (no state_dict, no such tensor
  /// or dataset, not an activations file).
  case unexpectedContent

  // MARK: Models

  /// The tensors are readable but do not form a valid model (`ModelValidationError` lists why; the
  /// HDF5 reader also gives this kind when it refuses NaN or infinite weights at their first chunk).
  case invalidModel

  // MARK: Images

  /// The image has zero width or height.
  case zeroSize
  /// Memory could not be allocated.
  case outOfMemory
  /// The image size is not accepted by the requested preprocessing.
  case unsupportedSize
  /// Preprocessing found no digit: the image is blank (uniform, or only noise and specks once the
  /// background is removed).
  case noDigit
  /// An argument was invalid (pixel count mismatch, non-positive size, ...).
  case invalidArgument

  // MARK: Anything else

  /// An error from a layer below that none of the kinds describes (the error keeps it).
  case other

  /// The kind for `errno` `code`: ENOENT is ``notFound``, EEXIST ``exists``, the rest
  /// ``io(errno:)``.
  public init(errno code: Int32) {
    switch code {
    case ENOENT: self = .notFound
    case EEXIST: self = .exists
    default: self = .io(errno: code)
    }
  }
}
