import Foundation

/// Runs a built executable of this package and captures its output, for CLI tests.
public struct ToolResult: Sendable {
  public var status: Int32
  public var stdout: String
  public var stderr: String
}

/// Runs `Fixtures.productsDirectory/<tool>` with `arguments`, feeding `input` on standard input.
public func runTool(_ tool: String, _ arguments: [String], input: String? = nil, in directory: URL? = nil)
  throws
  -> ToolResult
{
  let process = Process()
  process.executableURL = Fixtures.productsDirectory.appendingPathComponent(tool)
  process.arguments = arguments
  if let directory { process.currentDirectoryURL = directory }
  let output = Pipe()
  let errors = Pipe()
  let feed = Pipe()
  process.standardOutput = output
  process.standardError = errors
  process.standardInput = feed
  try process.run()
  if let input { feed.fileHandleForWriting.write(Data(input.utf8)) }
  try feed.fileHandleForWriting.close()
  // Read both pipes to the end before waiting, so a chatty tool cannot block on a full pipe.
  let group = DispatchGroup()
  nonisolated(unsafe) var errorData = Data()
  DispatchQueue.global().async(group: group) { errorData = errors.fileHandleForReading.readDataToEndOfFile() }
  let outputData = output.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  process.waitUntilExit()
  return ToolResult(
    status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
    stderr: String(decoding: errorData, as: UTF8.self))
}
