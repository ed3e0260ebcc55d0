import Foundation

/// Runs a built executable of this package and captures its output, for CLI tests.
public struct ToolResult: Sendable {
  public var status: Int32
  public var stdout: String
  public var stderr: String
  /// Killed by a signal (`status` is then the signal number), not an exit.
  public var signaled = false
  /// Killed by `runTool` after its timeout.
  public var timedOut = false
  /// Standard output as bytes (file names that are not UTF-8 come out as their bytes in CSV).
  public var stdoutBytes: [UInt8] = []
}

/// Runs `Fixtures.productsDirectory/<tool>` with `arguments`, feeding `input` on standard input;
/// kills it (SIGKILL) after `timeout` seconds.
public func runTool(
  _ tool: String, _ arguments: [String], input: String? = nil, in directory: URL? = nil,
  timeout: Double = 600
) throws -> ToolResult {
  try run(
    Fixtures.productsDirectory.appendingPathComponent(tool), arguments, input: input.map { Data($0.utf8) },
    in: directory, timeout: timeout)
}

/// Runs `/bin/sh -c script` with `TOOLS` set to the executables' folder, so a script can pass bytes a
/// Swift `String` cannot hold (`"$TOOLS/capsinfer" "$(printf 'caf\351.png')"`) or set limits
/// (`ulimit -f 0`).
public func runShell(_ script: String, input: Data? = nil, in directory: URL? = nil, timeout: Double = 600)
  throws -> ToolResult
{
  var environment = ProcessInfo.processInfo.environment
  environment["TOOLS"] = Fixtures.productsDirectory.path
  return try run(
    URL(fileURLWithPath: "/bin/sh"), ["-c", script], input: input, in: directory, timeout: timeout,
    environment: environment)
}

private func run(
  _ executable: URL, _ arguments: [String], input: Data?, in directory: URL?, timeout: Double,
  environment: [String: String]? = nil
) throws -> ToolResult {
  let process = Process()
  process.executableURL = executable
  process.arguments = arguments
  if let environment { process.environment = environment }
  if let directory { process.currentDirectoryURL = directory }
  let output = Pipe()
  let errors = Pipe()
  let feed = Pipe()
  process.standardOutput = output
  process.standardError = errors
  process.standardInput = feed
  try process.run()
  nonisolated(unsafe) var timedOut = false
  let deadline = DispatchWorkItem {
    if process.isRunning {
      timedOut = true
      kill(process.processIdentifier, SIGKILL)
    }
  }
  DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: deadline)
  if let input { feed.fileHandleForWriting.write(input) }
  try feed.fileHandleForWriting.close()
  // Read both pipes to the end before waiting, so a chatty tool cannot block on a full pipe.
  let group = DispatchGroup()
  nonisolated(unsafe) var errorData = Data()
  DispatchQueue.global().async(group: group) { errorData = errors.fileHandleForReading.readDataToEndOfFile() }
  let outputData = output.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  process.waitUntilExit()
  deadline.cancel()
  return ToolResult(
    status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
    stderr: String(decoding: errorData, as: UTF8.self),
    signaled: process.terminationReason == .uncaughtSignal, timedOut: timedOut,
    stdoutBytes: Array(outputData))
}
