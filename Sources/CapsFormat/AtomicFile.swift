import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// write(2), named apart from `AtomicFile.write`.
private func posixWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
  #if canImport(Darwin)
    Darwin.write(descriptor, bytes, count)
  #elseif canImport(Musl)
    Musl.write(descriptor, bytes, count)
  #else
    Glibc.write(descriptor, bytes, count)
  #endif
}

/// Writes a file atomically: the content goes to a temporary file in the destination's folder,
/// is flushed to disk, then takes the destination's name in one step. On any error the
/// temporary file is removed and the destination is untouched.
public enum AtomicFile {
  /// Writes `bytes` to `path` atomically.
  public static func write(_ bytes: [UInt8], to path: String, overwrite: Bool) throws(FormatError) {
    try write(to: path, overwrite: overwrite) { (temporary: String) throws(FormatError) in
      let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
      guard descriptor >= 0 else {
        throw .file(path: path, reason: "cannot create a temporary file beside it: \(errnoText())")
      }
      defer { close(descriptor) }
      var written = 0
      while written < bytes.count {
        let result = bytes.withUnsafeBytes { buffer in
          posixWrite(descriptor, buffer.baseAddress.map { $0 + written }, bytes.count - written)
        }
        if result < 0 {
          if errno == EINTR { continue }
          throw .file(path: path, reason: "cannot write: \(errnoText())")
        }
        written += result
      }
    }
  }

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

/// Removes temporary files when the process is interrupted (SIGINT, SIGTERM, SIGHUP), then exits
/// with 128 + the signal number; makes exceeding a file-size limit a write error, not a kill
/// (SIGXFSZ ignored). SIGKILL cannot be caught: a stray `.<name>.tmp-*` file may then remain, but
/// the destination is always either the old file or the complete new one.
public enum InterruptCleanup {
  nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

  /// Installs the handlers once; call before writing.
  public static func install() {
    guard sources.isEmpty else { return }
    signal(SIGXFSZ, SIG_IGN)
    for number in [SIGINT, SIGTERM, SIGHUP] {
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler {
        TemporaryFiles.removeAll()
        exit(128 + number)
      }
      source.resume()
      sources.append(source)
    }
  }
}
