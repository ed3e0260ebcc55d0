import CapsFiles

/// Why a file could not be read or written: a matchable ``kind``, the file, what was being read
/// where it is known (``tensor``, ``offset``) and the problem in words, as GRDB's `DatabaseError`
/// pairs a result code with its message. Match on ``kind``; `description` is for people: one line
/// naming the file and the problem.
///
/// The kinds and the exit code each gives in `capsconv` are listed in docs/RELIABILITY.md ("Error
/// kinds").
public struct FormatError: Error, CustomStringConvertible, Sendable {
  /// What went wrong, for programmatic handling (``CapsFiles/ErrorKind``, shared with ``HDF5Error``
  /// and `CapsImage`'s `ImageError`). A format error has one of ``CapsFiles/ErrorKind/notFound``,
  /// `notRegularFile`, `io(errno:)`, `exists`, `sameAsInput`, `invalidPath`, `wrongFormat`,
  /// `truncated`, `corrupt`, `unsupported`, `limitExceeded`, `unsafeContent`, `unexpectedContent`,
  /// `invalidModel` (``validationError`` lists why) or `other` (``underlying`` holds the error).
  public typealias Kind = ErrorKind

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
    self.init(failure.kind, path: path, detail: failure.description)
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
