#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why a file could not be opened, read or written: a matchable ``kind`` and the reason in words
/// (without the path, which the caller's error names). The format and image errors take its kind.
public struct FileFailure: Error, Sendable, Equatable, CustomStringConvertible {
  /// What went wrong: ``ErrorKind/notFound``, ``ErrorKind/notRegularFile``, ``ErrorKind/exists``,
  /// ``ErrorKind/invalidPath`` or ``ErrorKind/io(errno:)``.
  public typealias Kind = ErrorKind

  /// The category of the problem.
  public var kind: Kind
  /// The reason in words, without the path: "cannot open (Permission denied)".
  public var description: String

  public init(_ kind: Kind, _ description: String) {
    self.kind = kind
    self.description = description
  }

  /// The failure of a system call that set `errno` to `code` (kind ``ErrorKind/init(errno:)``); the
  /// reason is `what` and `strerror(code)`.
  public static func system(_ code: Int32, _ what: String) -> FileFailure {
    FileFailure(Kind(errno: code), "\(what) (\(ReadableFile.errnoText(code)))")
  }

  /// `errno` of the failed call: ENOENT for ``ErrorKind/notFound``, EEXIST for ``ErrorKind/exists``,
  /// 0 when no call failed (a file that is not a regular file, a path that is not a file name).
  public var code: Int32 {
    switch kind {
    case .notFound: ENOENT
    case .exists: EEXIST
    case .io(let code): code ?? 0
    default: 0
    }
  }

  /// Whether the file exists but is not a regular file (a FIFO, a device, a directory, ...).
  public var isNotRegularFile: Bool { kind == .notRegularFile }
}
