#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Opening a file for reading without ever blocking on it: `open(O_NONBLOCK)`, `fstat`, and only a
/// regular file is accepted (then `O_NONBLOCK` is cleared). A FIFO, a device, a socket or a directory
/// is refused before a single byte is read, so `mkfifo x.png` or `/dev/zero` cannot hang a reader or
/// make it read without end.
public enum ReadableFile {
  /// An open regular file; the caller closes `descriptor`.
  public struct Opened: Sendable {
    public var descriptor: Int32
    /// The size at opening.
    public var byteCount: Int
  }

  /// Why a path could not be opened for reading (``FileFailure``).
  public typealias Failure = FileFailure

  /// Opens `path` read-only; succeeds only for a regular file (symlinks are followed).
  public static func open(_ path: String) -> Result<Opened, Failure> {
    let descriptor = FileName.withCString(path) {
      systemOpen($0, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
    }
    guard descriptor >= 0 else {
      return .failure(.system(errno, "cannot open"))
    }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      let code = errno
      close(descriptor)
      return .failure(.system(code, "cannot stat"))
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      close(descriptor)
      return .failure(FileFailure(.notRegularFile, "\(kind(of: info.st_mode)), not a regular file"))
    }
    let flags = fcntl(descriptor, F_GETFL)
    if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) }
    return .success(Opened(descriptor: descriptor, byteCount: Int(info.st_size)))
  }

  /// "is a FIFO (named pipe)", "is a character device", ... for a `st_mode`.
  public static func kind(of mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFDIR: "is a directory"
    case S_IFIFO: "is a FIFO (named pipe)"
    case S_IFCHR: "is a character device"
    case S_IFBLK: "is a block device"
    case S_IFSOCK: "is a socket"
    case S_IFLNK: "is a symbolic link"
    case S_IFREG: "is a regular file"
    default: "is a special file"
    }
  }

  /// `strerror(code)` as a String.
  public static func errnoText(_ code: Int32) -> String {
    strerror(code).map { String(cString: $0) } ?? "error \(code)"
  }

  private static func systemOpen(_ path: UnsafePointer<CChar>, _ flags: Int32) -> Int32 {
    #if canImport(Darwin)
      Darwin.open(path, flags)
    #elseif canImport(Musl)
      Musl.open(path, flags)
    #else
      Glibc.open(path, flags)
    #endif
  }
}
