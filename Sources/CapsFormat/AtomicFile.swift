import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writes a file atomically: the content goes to a temporary file in the destination's folder,
/// is flushed to disk, then takes the destination's name in one step. On any error the
/// temporary file is removed and the destination is untouched.
public enum AtomicFile {
  /// Writes through `produce`, which receives the temporary path and must create that file.
  ///
  /// - Parameters:
  ///   - path: The destination.
  ///   - overwrite: Replace an existing destination; when false an existing file is an error, also
  ///     if it appears while writing.
  public static func write(
    to path: String, overwrite: Bool, produce: (String) throws(FormatError) -> Void
  ) throws(FormatError) {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
      throw .file(path: path, reason: "the folder \(folder) does not exist")
    }
    if !overwrite, FileManager.default.fileExists(atPath: path) {
      throw .file(path: path, reason: "already exists (use --force to replace it)")
    }
    let temporary =
      folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    TemporaryFiles.register(temporary)
    defer {
      unlink(temporary)
      TemporaryFiles.unregister(temporary)
    }
    try produce(temporary)
    try synchronize(temporary)
    if overwrite {
      guard rename(temporary, path) == 0 else {
        throw .file(path: path, reason: "cannot rename into place: \(errnoText())")
      }
    } else {
      // link(2) fails if the destination appeared meanwhile, so nothing is ever replaced.
      guard link(temporary, path) == 0 else {
        let reason =
          errno == EEXIST
          ? "already exists (use --force to replace it)" : "cannot move into place: \(errnoText())"
        throw .file(path: path, reason: reason)
      }
    }
    let folderDescriptor = open(folder, O_RDONLY)
    if folderDescriptor >= 0 {
      fsync(folderDescriptor)
      close(folderDescriptor)
    }
  }

  private static func synchronize(_ path: String) throws(FormatError) {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw .file(path: path, reason: "cannot reopen to flush: \(errnoText())") }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else {
      throw .file(path: path, reason: "cannot flush to disk: \(errnoText())")
    }
  }

  static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// Temporary files being written, removed by `removeAll()` when the process is interrupted.
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

  /// Deletes every temporary file still being written (for a SIGINT/SIGTERM handler).
  public static func removeAll() {
    lock.lock()
    for path in paths { unlink(path) }
    paths.removeAll()
    lock.unlock()
  }
}
