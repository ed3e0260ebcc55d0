import CapsFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The `-o` file of a `--resume` run, open for appending: the rows already in it (a torn last row
/// cut off), locked against a second capsinfer appending to it at the same time.
///
/// Unlike a plain `-o` file (written to a temporary file and renamed at the end), a resumed file is
/// appended to batch by batch, so that a killed run keeps every batch written before the kill; the
/// next `--resume` run cuts off the row torn by the kill, if any, and redoes it.
struct ResumedOutput {
  let descriptor: Int32
  let identity: FileIdentity?
  let done: DoneRows
  /// Bytes of a torn last row that were cut off.
  let droppedBytes: Int

  /// Why the file cannot be resumed (exit 1).
  struct Problem: Error, CustomStringConvertible {
    var description: String
  }

  /// Opens (creating it if absent) and reads `path`, a CSV or JSON-lines output of a model with
  /// `classes` classes.
  static func open(path: String, format: OutputFormat, classes: Int) throws(Problem) -> ResumedOutput {
    let shown = FileName.display(path)
    let descriptor = FileName.withCString(path) { openForAppending($0) }
    guard descriptor >= 0 else {
      throw Problem(description: "\(shown): cannot open for --resume (\(ReadableFile.errnoText(errno)))")
    }
    var keep = false
    defer { if !keep { close(descriptor) } }
    var info = stat()
    guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
      throw Problem(
        description: "\(shown): \(ReadableFile.kind(of: info.st_mode)), not a regular file; cannot resume it")
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      throw Problem(
        description: "\(shown): locked by another process (another capsinfer --resume writing it?)")
    }
    let header = ResultFormatter.csvHeader(classes: classes)
    let layout: RowFileScanner.Layout = format == .csv ? .csv(header: FileName.bytes(header)) : .jsonl
    let scanned: RowFileScanner.Result
    do {
      scanned = try RowFileScanner.scan(descriptor: descriptor, name: path, layout: layout)
    } catch {
      throw Problem(description: error.description)
    }
    if scanned.completeLength < scanned.fileLength {
      guard ftruncate(descriptor, off_t(scanned.completeLength)) == 0 else {
        throw Problem(
          description: "\(shown): cannot cut off its torn last row (\(ReadableFile.errnoText(errno)))")
      }
    }
    if format == .csv && scanned.completeLength == 0 {
      let code = writeAll(header + "\n", to: descriptor)
      guard code == 0 else {
        throw Problem(description: "\(shown): write error (\(ReadableFile.errnoText(code)))")
      }
    }
    keep = true
    return ResumedOutput(
      descriptor: descriptor, identity: FileIdentity(path), done: DoneRows(scanned.keys),
      droppedBytes: scanned.fileLength - scanned.completeLength)
  }
}

/// open(2) for reading and appending, creating the file if absent (named apart from `open` above).
private func openForAppending(_ path: UnsafePointer<CChar>) -> Int32 {
  open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
}
