import CapsFiles
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Removes temporary files when the process is interrupted (SIGINT, SIGTERM, SIGHUP), then exits
/// with 128 + the signal number; makes exceeding a file-size limit a write error, not a kill
/// (SIGXFSZ ignored), and, with `ignoringBrokenPipes`, a closed output pipe a write error (EPIPE)
/// instead of a SIGPIPE kill. SIGKILL cannot be caught: a stray `.<name>.<pid>-<random>.tmp` file
/// may then remain, but the destination is always either the old file or the complete new one.
public enum InterruptCleanup {
  nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

  /// Installs the handlers once; call before writing.
  public static func install(ignoringBrokenPipes: Bool = false) {
    if ignoringBrokenPipes { signal(SIGPIPE, SIG_IGN) }
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
