#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why a file could not be opened, read or written: a matchable ``kind`` and the reason in words
/// (without the path, which the caller's error names). The format and image errors take their kind
/// from it (the same case names mean the same there).
public struct FileFailure: Error, Sendable, Equatable, CustomStringConvertible {
  /// What went wrong, for programmatic handling.
  public enum Kind: Hashable, Sendable {
    /// The file (or the folder it should be written to) does not exist.
    case notFound
    /// A FIFO, a device, a socket or a directory where a regular file is needed.
    case notRegularFile
    /// The destination exists and replacing it was not asked for.
    case exists
    /// The path cannot name a file (empty name, `.`, `..`).
    case invalidPath
    /// A system call failed with `errno`.
    case io(errno: Int32)

    /// The kind for `errno` `code`: ENOENT is ``notFound``, EEXIST ``exists``, the rest ``io(errno:)``.
    public init(errno code: Int32) {
      switch code {
      case ENOENT: self = .notFound
      case EEXIST: self = .exists
      default: self = .io(errno: code)
      }
    }
  }

  /// The category of the problem.
  public var kind: Kind
  /// The reason in words, without the path: "cannot open (Permission denied)".
  public var description: String

  public init(_ kind: Kind, _ description: String) {
    self.kind = kind
    self.description = description
  }

  /// The failure of a system call that set `errno` to `code`: ENOENT is ``Kind/notFound``, EEXIST
  /// ``Kind/exists``, anything else ``Kind/io(errno:)``; the reason is `what` and `strerror(code)`.
  public static func system(_ code: Int32, _ what: String) -> FileFailure {
    FileFailure(Kind(errno: code), "\(what) (\(ReadableFile.errnoText(code)))")
  }

  /// `errno` of the failed call: ENOENT for ``Kind/notFound``, EEXIST for ``Kind/exists``, 0 when no
  /// call failed (a file that is not a regular file, a path that is not a file name).
  public var code: Int32 {
    switch kind {
    case .notFound: ENOENT
    case .exists: EEXIST
    case .io(let code): code
    case .notRegularFile, .invalidPath: 0
    }
  }

  /// Whether the file exists but is not a regular file (a FIFO, a device, a directory, ...).
  public var isNotRegularFile: Bool { kind == .notRegularFile }
}
