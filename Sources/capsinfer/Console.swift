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

/// Standard output for the results, standard error for per-file errors and the progress line,
/// kept from garbling each other when both go to the same terminal.
final class Console {
  private var progress: Progress
  private let standardOutputIsTerminal = isatty(STDOUT_FILENO) != 0

  init(progress: Progress) {
    self.progress = progress
  }

  /// Writes result text at once (unbuffered), so that a pipe sees every batch as soon as it is done.
  /// - Throws: `StandardOutputError` when standard output cannot be written (closed pipe, full disk).
  func writeRows(_ text: String) throws(StandardOutputError) {
    guard !text.isEmpty else { return }
    if standardOutputIsTerminal { progress.erase() }
    let code = writeAll(text, to: STDOUT_FILENO)
    if code != 0 { throw StandardOutputError(code: code) }
  }

  /// One error line on standard error.
  func error(_ message: String) {
    progress.erase()
    printError(message)
  }

  /// Redraws the progress line (only on a terminal, and only once the work has taken a while).
  func showProgress(done: Int, failed: Int, since start: DispatchTime) {
    progress.draw(done: done, failed: failed, since: start)
  }

  /// Removes the progress line and prints the summary: on standard output after a table, else on
  /// standard error (so CSV and JSON lines stay machine-readable).
  func finish(summary: String, toStandardOutput: Bool) throws(StandardOutputError) {
    progress.erase()
    if toStandardOutput {
      try writeRows(summary + "\n")
    } else {
      printError(summary)
    }
  }
}

/// The progress line on standard error: a bar when the number of files is known, else a count.
/// Drawn only when standard error is a terminal and the run has lasted more than a second.
struct Progress {
  /// Files in the run, when known in advance.
  let total: Int?
  private let enabled = isatty(STDERR_FILENO) != 0
  private var visible = false
  private var lastDraw: UInt64 = 0

  /// Seconds of work before the line first appears, and between redraws.
  private static let delayNanoseconds: UInt64 = 1_000_000_000
  private static let intervalNanoseconds: UInt64 = 200_000_000

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
    _ = writeAll("\r\u{1B}[K" + line, to: STDERR_FILENO)
    visible = true
  }

  /// Clears the line, if shown, so that other text starts at the left margin.
  mutating func erase() {
    guard visible else { return }
    _ = writeAll("\r\u{1B}[K", to: STDERR_FILENO)
    visible = false
  }
}

/// Standard output could not be written.
struct StandardOutputError: Error, CustomStringConvertible {
  var code: Int32
  var description: String { "standard output: write error (\(String(cString: strerror(code))))" }
}
