import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The steps of an atomic file write, shared by the model writer (`CapsFormat.AtomicFile`) and the
/// PNG writer (`CapsImage.ImageFile`): the content goes to a temporary file in the destination's
/// folder, is flushed to disk, then takes the destination's name in one step. On any error (or
/// when a tool's signal handler calls ``TemporaryFiles/removeAll()``) the temporary file is removed
/// and the destination is untouched.
///
/// - The temporary name is `.<name>.<pid>-<random>.tmp`, with `<name>` cut to 200 bytes, so that it
///   fits in NAME_MAX (255) whenever the destination's own name does.
/// - An existing destination is replaced only with `overwrite` and only if it is a regular file
///   (or a symlink to one): never a device node, a FIFO, a socket or a directory.
/// - Without `overwrite` the file is moved into place with `link(2)`, which fails if the destination
///   appeared meanwhile, so nothing is ever replaced.
public enum AtomicReplacement {
  /// The longest part of the destination's name kept in the temporary name.
  static let namePrefixBytes = 200

  /// The reason given when the destination exists and `overwrite` is false.
  public static let alreadyExists = "already exists"

  /// Writes `path` through `produce`, which receives the temporary path and must create that file.
  /// `failure` turns a ``FileFailure`` (kind ``ErrorKind/exists`` with the reason ``alreadyExists``,
  /// ``ErrorKind/notFound``, ...) into the caller's error. The library names no command-line option:
  /// a tool adds its own hint to an ``ErrorKind/exists`` refusal.
  public static func write<Failure: Error>(
    to path: String, overwrite: Bool, failure: (FileFailure) -> Failure,
    produce: (String) throws(Failure) -> Void
  ) throws(Failure) {
    let bytes = FileName.bytes(path)
    let slash = bytes.lastIndex(of: UInt8(ascii: "/"))
    let folderBytes: [UInt8] =
      slash.map { $0 == 0 ? [UInt8(ascii: "/")] : Array(bytes[..<$0]) } ?? [UInt8(ascii: ".")]
    let name = Array(bytes[(slash.map { $0 + 1 } ?? 0)...])
    let folder = FileName.decode(folderBytes)
    guard !name.isEmpty, name != [UInt8(ascii: ".")], name != Array("..".utf8) else {
      throw failure(FileFailure(.invalidPath, "not a file name"))
    }
    guard let folderInfo = status(of: folder, followingLinks: true), (folderInfo.st_mode & S_IFMT) == S_IFDIR
    else {
      throw failure(FileFailure(.notFound, "the folder \(FileName.display(folder)) does not exist"))
    }
    if let existing = status(of: path, followingLinks: false) {
      guard overwrite else { throw failure(FileFailure(.exists, alreadyExists)) }
      let target = (existing.st_mode & S_IFMT) == S_IFLNK ? status(of: path, followingLinks: true) : existing
      if let target, (target.st_mode & S_IFMT) != S_IFREG {
        throw failure(
          FileFailure(
            .notRegularFile,
            "\(ReadableFile.kind(of: target.st_mode)), not a regular file; refusing to replace it"))
      }
    }
    let token = String(getpid(), radix: 36) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
    let temporaryName =
      [UInt8(ascii: ".")] + name.prefix(namePrefixBytes) + Array(".\(token).tmp".utf8)
    let separator: [UInt8] = folderBytes.last == UInt8(ascii: "/") ? [] : [UInt8(ascii: "/")]
    let temporary = FileName.decode(folderBytes + separator + temporaryName)
    TemporaryFiles.register(temporary)
    defer {
      FileName.withCString(temporary) { _ = unlink($0) }
      TemporaryFiles.unregister(temporary)
    }
    try produce(temporary)
    if let reason = synchronize(temporary) { throw failure(reason) }
    if overwrite {
      let result = FileName.withCString(temporary) { from in FileName.withCString(path) { rename(from, $0) } }
      guard result == 0 else {
        throw failure(
          FileFailure(.init(errno: errno), "cannot rename into place: \(ReadableFile.errnoText(errno))"))
      }
    } else {
      let result = FileName.withCString(temporary) { from in FileName.withCString(path) { link(from, $0) } }
      guard result == 0 else {
        throw failure(
          errno == EEXIST
            ? FileFailure(.exists, alreadyExists)
            : FileFailure(.init(errno: errno), "cannot move into place: \(ReadableFile.errnoText(errno))"))
      }
    }
    let folderDescriptor = FileName.withCString(folder) { open($0, O_RDONLY | O_CLOEXEC) }
    if folderDescriptor >= 0 {
      fsync(folderDescriptor)
      close(folderDescriptor)
    }
  }

  /// Creates `temporary` (exclusively) and writes `data` to it; nil or why it failed.
  public static func writeBytes(_ data: [UInt8], toNew temporary: String) -> FileFailure? {
    let descriptor = TemporaryFiles.createExclusively(temporary)
    guard descriptor >= 0 else {
      return FileFailure(
        .init(errno: errno), "cannot create a temporary file beside it: \(ReadableFile.errnoText(errno))")
    }
    defer { close(descriptor) }
    var written = 0
    while written < data.count {
      let result = SystemCall.retryingInterrupted {
        data.withUnsafeBytes { buffer in
          posixWrite(descriptor, buffer.baseAddress! + written, data.count - written)
        }
      }
      if result < 0 {
        return FileFailure(.init(errno: errno), "cannot write: \(ReadableFile.errnoText(errno))")
      }
      written += result
    }
    return nil
  }

  /// `stat` or `lstat` of `path`, nil if it does not exist (or cannot be examined).
  public static func status(of path: String, followingLinks: Bool) -> stat? {
    var info = stat()
    let result = FileName.withCString(path) { followingLinks ? stat($0, &info) : lstat($0, &info) }
    return result == 0 ? info : nil
  }

  private static func synchronize(_ path: String) -> FileFailure? {
    let descriptor = FileName.withCString(path) { open($0, O_RDONLY | O_CLOEXEC) }
    guard descriptor >= 0 else {
      return FileFailure(.init(errno: errno), "cannot reopen to flush: \(ReadableFile.errnoText(errno))")
    }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else {
      return FileFailure(.init(errno: errno), "cannot flush to disk: \(ReadableFile.errnoText(errno))")
    }
    return nil
  }
}

/// write(2), named apart from `Foundation`'s methods.
private func posixWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
  #if canImport(Darwin)
    Darwin.write(descriptor, bytes, count)
  #elseif canImport(Musl)
    Musl.write(descriptor, bytes, count)
  #else
    Glibc.write(descriptor, bytes, count)
  #endif
}

/// Temporary files being written: the hook a tool's signal handler calls (``removeAll()``) when the
/// process is interrupted. The libraries install no handler themselves.
public enum TemporaryFiles {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var paths: Set<String> = []

  static func register(_ path: String) {
    lock.lock()
    paths.insert(path)
    lock.unlock()
  }

  static func unregister(_ path: String) {
    lock.lock()
    paths.remove(path)
    lock.unlock()
  }

  /// Creates the registered temporary file `path` for writing (`O_CREAT | O_EXCL`) under the
  /// registry's lock. After ``removeAll()`` the lock is never released, so a writing thread cannot
  /// create a temporary file just after the signal handler deleted the registered ones: it waits
  /// until the process exits. Returns the descriptor, or -1 with `errno` set.
  public static func createExclusively(_ path: String) -> Int32 {
    lock.lock()
    defer { lock.unlock() }
    return FileName.withCString(path) { open($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
  }

  /// Deletes every temporary file still being written, for a SIGINT/SIGTERM handler that exits
  /// right after (`CapsToolSupport`'s `InterruptCleanup` in the tools). It keeps the registry
  /// locked for good, so that no thread creates a new temporary file before the process ends; call
  /// it only on the way to `exit`.
  public static func removeAll() {
    lock.lock()
    for path in paths { FileName.withCString(path) { _ = unlink($0) } }
    paths.removeAll()
  }
}
