import CapsFiles
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Prints one line to standard error, prefixed with the tool's name.
func printError(_ message: String) {
  _ = writeAll("capsinfer: " + message + "\n", to: STDERR_FILENO)
}

/// Writes all of `text` to a file descriptor, retrying short writes; file-name bytes that are not
/// UTF-8 (``CapsFiles/FileName``) are written as those bytes.
/// - Returns: 0, or the `errno` of the failed write (EPIPE when the reader has gone: SIGPIPE is
///   ignored).
func writeAll(_ text: String, to descriptor: Int32) -> Int32 {
  let data = FileName.bytes(text)
  return data.withUnsafeBufferPointer { bytes in
    var offset = 0
    while offset < bytes.count {
      let count = SystemCall.retryingInterrupted {
        write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
      }
      if count < 0 { return errno }
      offset += count
    }
    return 0
  }
}

/// Where the result rows go: standard output, or the `-o` file (a temporary file renamed at the end,
/// or the `--resume` file appended to). Each batch is one `write(2)` call, so a killed process loses
/// at most the batch in flight (the rows written before are in the kernel, whatever happens to the
/// process).
struct RowSink {
  let descriptor: Int32
  /// For messages: "standard output" or the file's path.
  let name: String
  let isTerminal: Bool

  static let standardOutput = RowSink(descriptor: STDOUT_FILENO, name: "standard output")

  init(descriptor: Int32, name: String) {
    self.descriptor = descriptor
    self.name = name
    isTerminal = isatty(descriptor) != 0
  }

  /// Writes `text` at once. - Throws: `RowWriteError` (closed pipe, full disk, file-size limit).
  func write(_ text: String) throws(RowWriteError) {
    guard !text.isEmpty else { return }
    let code = writeAll(text, to: descriptor)
    if code != 0 { throw RowWriteError(name: name, code: code) }
  }
}

/// The results, per-file errors, the progress line and the summary, kept from garbling each other
/// when they share a terminal. Rows go to a ``RowSink``; everything else to standard error.
final class Console {
  private var progress: Progress
  private var rows: RowSink
  private let quiet: Bool

  /// - Parameter quiet: No progress line and no summary (per-file errors are still printed).
  init(progress: Progress, rows: RowSink, quiet: Bool) {
    self.progress = progress
    self.rows = rows
    self.quiet = quiet
  }

  /// Sends the rows to `rows` from now on, with a new progress line.
  func use(rows: RowSink, progress: Progress) {
    self.rows = rows
    self.progress = progress
  }

  /// Writes result text at once (unbuffered), so that a pipe or a file sees every batch as soon as
  /// it is done.
  func writeRows(_ text: String) throws(RowWriteError) {
    guard !text.isEmpty else { return }
    if rows.isTerminal { progress.erase() }
    try rows.write(text)
  }

  /// One error line on standard error.
  func error(_ message: String) {
    progress.erase()
    printError(message)
  }

  /// Redraws the progress line (only on a terminal, and only once the work has taken a while).
  func showProgress(done: Int, failed: Int, since start: DispatchTime) {
    guard !quiet else { return }
    progress.draw(done: done, failed: failed, since: start)
  }

  /// Removes the progress line and prints the summary on standard error (whatever the format, so
  /// that standard output holds only rows), unless quiet.
  func finish(summary: String) {
    progress.erase()
    if !quiet { printError(summary) }
  }
}

/// The progress line on standard error: a bar with an estimate of the time left when the number of
/// files is known, else a count. Drawn only when standard error is a terminal and the run has lasted
/// more than a second.
struct Progress {
  /// Files in the run, when known in advance.
  let total: Int?
  private let enabled = isatty(STDERR_FILENO) != 0
  private var visible = false
  private var lastDraw: UInt64 = 0

  /// Seconds of work before the line first appears, and between redraws.
  private static let delayNanoseconds: UInt64 = 1_000_000_000
  private static let intervalNanoseconds: UInt64 = 200_000_000

  /// Whether a progress line can appear at all (standard error is a terminal).
  static var possible: Bool { isatty(STDERR_FILENO) != 0 }

  init(total: Int?) {
    self.total = total
  }

  mutating func draw(done: Int, failed: Int, since start: DispatchTime) {
    guard enabled else { return }
    let now = DispatchTime.now().uptimeNanoseconds
    let elapsed = now - start.uptimeNanoseconds
    guard elapsed >= Self.delayNanoseconds, now - lastDraw >= Self.intervalNanoseconds else { return }
    lastDraw = now
    let rate = Double(done) / (Double(elapsed) / 1e9)
    var line = ""
    if let total, total > 0 {
      let width = 30
      let filled = min(width, done * width / total)
      line =
        "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
      line += "\(done)/\(total) files"
    } else {
      line = "\(done) files"
    }
    line += String(format: ", %.0f images/s", rate)
    if failed > 0 { line += ", \(failed) failed" }
    if let total, total > done, rate > 0 { line += ", ETA " + Self.clock(Double(total - done) / rate) }
    _ = writeAll("\r\u{1B}[K" + line, to: STDERR_FILENO)
    visible = true
  }

  /// `m:ss`, or `h:mm:ss` from an hour on.
  static func clock(_ seconds: Double) -> String {
    let whole = Int(min(seconds.rounded(.up), 359_999))
    let (hours, rest) = whole.quotientAndRemainder(dividingBy: 3600)
    let (minutes, secs) = rest.quotientAndRemainder(dividingBy: 60)
    let two = { (n: Int) in n < 10 ? "0\(n)" : "\(n)" }
    return hours > 0 ? "\(hours):\(two(minutes)):\(two(secs))" : "\(minutes):\(two(secs))"
  }

  /// Clears the line, if shown, so that other text starts at the left margin.
  mutating func erase() {
    guard visible else { return }
    _ = writeAll("\r\u{1B}[K", to: STDERR_FILENO)
    visible = false
  }
}

/// The rows could not be written (to standard output or the -o file).
struct RowWriteError: Error, CustomStringConvertible {
  var name: String
  var code: Int32
  var description: String {
    "\(FileName.display(name)): write error (\(String(cString: strerror(code))))"
  }
}
