import CapsFiles

/// Why a file could not be read or written: a matchable ``kind``, the file, what was being read
/// where it is known (``tensor``, ``offset``) and the problem in words, as GRDB's `DatabaseError`
/// pairs a result code with its message. Match on ``kind``; `description` is for people: one line
/// naming the file and the problem.
///
/// The kinds (the same names mean the same in ``HDF5Error`` and `CapsImage`'s `ImageError`) and the
/// exit code each gives in `capsconv` are listed in docs/RELIABILITY.md ("Error kinds").
public struct FormatError: Error, CustomStringConvertible, Sendable {
  /// What went wrong, for programmatic handling.
  public enum Kind: Hashable, Sendable {
    /// The file (or the folder it should be written to) does not exist.
    case notFound
    /// The path names a FIFO, a device, a socket or a directory, where a regular file is needed.
    case notRegularFile
    /// A system call failed (`errno`: permission, I/O error, disk full, ...); nil when the library
    /// that failed (libhdf5) does not say.
    case io(errno: Int32?)
    /// The output file exists and replacing it was not asked for.
    case exists
    /// The output is one of the inputs.
    case sameAsInput
    /// The path cannot name a file (empty name, `.`, `..`).
    case invalidPath
    /// The file is not of a format CapsKit reads (another format, no HDF5 signature, not a pickle).
    case wrongFormat
    /// The file, or a structure in it, ends before the data it declares.
    case truncated
    /// A structure is malformed: a bad signature, checksum or CRC, a field out of range, a cycle.
    case corrupt
    /// The file uses a feature of its format that CapsKit does not implement (a version, a filter,
    /// a data type, a pickle opcode).
    case unsupported
    /// A size or count exceeds a bound CapsKit sets (elements, entries, metadata read, memory).
    case limitExceeded
    /// The unpickler refused to build something other than tensors and plain values (a global,
    /// an arbitrary object): nothing was executed.
    case unsafeContent
    /// The file is well formed but does not hold what was asked for (no state_dict, no such tensor
    /// or entry, not an activations file).
    case unexpectedContent
    /// The tensors are readable but do not form a valid model (``validationError`` lists why).
    case invalidModel
    /// An error from a layer below that none of the kinds describes (``underlying`` holds it).
    case other
  }

  /// The category of the problem.
  public var kind: Kind
  /// The file concerned.
  public var path: String
  /// The problem in words, without the path.
  public var detail: String
  /// The tensor, dataset or archive entry concerned, where known.
  public var tensor: String?
  /// The byte offset in the file where the problem lies, where known.
  public var offset: Int?
  /// The error this one reports (an ``HDF5Error``, a ``ModelValidationError``, or an unknown error
  /// of kind ``Kind/other``).
  public var underlying: (any Error)?

  /// An error of `kind` about `path`.
  public init(
    _ kind: Kind, path: String, detail: String, tensor: String? = nil, offset: Int? = nil,
    underlying: (any Error)? = nil
  ) {
    self.kind = kind
    self.path = path
    self.detail = detail
    self.tensor = tensor
    self.offset = offset
    self.underlying = underlying
  }

  /// An HDF5 reading (or libhdf5 writing) error, with its kind and context.
  public init(_ error: HDF5Error) {
    self.init(
      error.kind, path: error.path, detail: error.detail, tensor: error.dataset, offset: error.offset,
      underlying: error)
  }

  /// A model that failed validation (kind ``Kind/invalidModel``).
  public init(_ error: ModelValidationError) {
    self.init(.invalidModel, path: error.origin, detail: error.description, underlying: error)
  }

  /// A file that could not be opened or written (``CapsFiles/FileFailure``), about `path`.
  public init(_ failure: FileFailure, path: String) {
    self.init(Kind(failure.kind), path: path, detail: failure.description)
  }

  /// The HDF5 error this one reports, if any.
  public var hdf5Error: HDF5Error? { underlying as? HDF5Error }
  /// The validation error this one reports, if any.
  public var validationError: ModelValidationError? { underlying as? ModelValidationError }

  /// One line naming the file and the problem.
  public var description: String {
    if let error = underlying as? HDF5Error { return error.description }
    if let error = underlying as? ModelValidationError { return error.description }
    return "\(path): \(detail)"
  }
}

extension FormatError.Kind {
  /// The kind of a file-system failure.
  public init(_ kind: FileFailure.Kind) {
    switch kind {
    case .notFound: self = .notFound
    case .notRegularFile: self = .notRegularFile
    case .exists: self = .exists
    case .invalidPath: self = .invalidPath
    case .io(let code): self = .io(errno: code)
    }
  }
}

extension FormatError {
  /// Runs `body`, turning the errors of the layers below into `FormatError`s: an ``HDF5Error`` or
  /// a ``ModelValidationError`` keeps its kind and context; any other error becomes kind
  /// ``Kind/other`` about `path`, keeping its identity in ``underlying`` (it is not relabelled as a
  /// file error).
  static func mapping<T>(path: String, _ body: () throws -> T) throws(FormatError) -> T {
    do {
      return try body()
    } catch let error as FormatError {
      throw error
    } catch let error as HDF5Error {
      throw FormatError(error)
    } catch let error as ModelValidationError {
      throw FormatError(error)
    } catch {
      throw FormatError(.other, path: path, detail: "\(error)", underlying: error)
    }
  }
}
