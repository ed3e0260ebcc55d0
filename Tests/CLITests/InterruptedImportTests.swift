import CapsFormat
import CapsTestSupport
import Foundation
import Testing

/// `capsconv import` interrupted while it writes over an existing file: afterwards the target is
/// either the old file, byte for byte, or the complete new model, never a partial file; SIGINT
/// and SIGTERM also remove the temporary (SIGKILL cannot be caught, so its temporary may stay).
@Suite struct InterruptedImportTests {
  private static let runs = 6

  @Test(arguments: [SIGKILL, SIGINT, SIGTERM])
  func anInterruptedImportLeavesTheOldFileOrTheCompleteNewOne(signal: Int32) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let input = Fixtures.path("pth/small.pth")
    let target = folder.appendingPathComponent("out.h5").path
    let reference = folder.appendingPathComponent("reference.h5").path
    let old = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pth/tiny.h5")))

    // An uninterrupted import gives the new model, and how long the import takes.
    let started = Date()
    let complete = try runTool("capsconv", ["import", input, "-o", reference])
    let duration = Date().timeIntervalSince(started)
    #expect(complete.status == 0, "\(complete.stderr)")
    let (expected, _) = try ModelFile.read(at: reference)

    var outcomes: [String: Int] = [:]
    for run in 0..<Self.runs {
      try old.write(to: URL(fileURLWithPath: target))
      let process = Process()
      process.executableURL = Fixtures.productsDirectory.appendingPathComponent("capsconv")
      process.arguments = ["import", input, "-o", target, "--force"]
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      try process.run()
      // Signal times spread over the whole import, from the reading to the final rename.
      Thread.sleep(forTimeInterval: duration * (Double(run) + 0.5) / Double(Self.runs))
      kill(process.processIdentifier, signal)
      process.waitUntilExit()

      let now = try Data(contentsOf: URL(fileURLWithPath: target))
      if now == old {
        outcomes["old", default: 0] += 1
      } else {
        let (model, _) = try ModelFile.read(at: target)
        #expect(model.orderedKeys == expected.orderedKeys)
        #expect(model.orderedKeys.allSatisfy { model.tensor($0) == expected.tensor($0) })
        outcomes["new", default: 0] += 1
      }
      let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        .filter { $0 != "out.h5" && $0 != "reference.h5" }
      if signal == SIGKILL {
        for name in leftovers {
          try FileManager.default.removeItem(atPath: folder.appendingPathComponent(name).path)
        }
      } else {
        #expect(leftovers.isEmpty, "signal \(signal) left \(leftovers)")
      }
    }
    #expect(outcomes.values.reduce(0, +) == Self.runs, "\(outcomes)")
  }
}
