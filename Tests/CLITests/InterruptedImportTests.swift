import CapsFormat
import CapsTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `capsconv import` interrupted while it writes over an existing file. Each kill is proven to land
/// mid-write: the import is frozen (SIGSTOP) at a moment its temporary file exists (created, being
/// written or flushed, not yet renamed; checked again while frozen), and only then sent the signal. Afterwards the target must be the old file byte for
/// byte (the new model is renamed into place only once complete), SIGINT and SIGTERM must have
/// removed the temporary (SIGKILL cannot be caught, so its temporary stays: that it does is the
/// proof the kill landed before the rename). A kill after the rename leaves the complete new model.
@Suite struct InterruptedImportTests {
  /// Imports tried until one is frozen while its temporary exists.
  private static let attempts = 8

  @Test(arguments: [SIGKILL, SIGINT, SIGTERM])
  func aKillDuringTheWriteLeavesTheOldFileAndAfterTheRenameTheNewOne(signal: Int32) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let input = Fixtures.path("pth/small.pth")
    let target = folder.appendingPathComponent("out.h5").path
    let reference = folder.appendingPathComponent("reference.h5").path
    let old = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pth/tiny.h5")))

    let complete = try runTool("capsconv", ["import", input, "-o", reference])
    #expect(complete.status == 0, "\(complete.stderr)")
    let (expected, _) = try ModelFile.read(at: reference)
    let finalSize = try #require(try FileManager.default.attributesOfItem(atPath: reference)[.size] as? Int)
    let arguments = ["import", input, "-o", target, "--force"]

    // During the write: frozen while the temporary exists, then signalled. (The model is written
    // with one write(2), which a stop cannot split, so the temporary is seen empty or complete.)
    var landed: (attempt: Int, bytes: Int)? = nil
    for attempt in 0..<Self.attempts where landed == nil {
      try old.write(to: URL(fileURLWithPath: target))
      let child = try SpawnedTool(arguments)
      var bytesAtKill: Int? = nil
      while child.isRunning {
        guard !temporaries(in: folder).isEmpty else {
          usleep(100)
          continue
        }
        guard child.stop() else { break }  // finished before it could be stopped
        // Frozen: the temporary is still there, so the rename has not happened.
        if let frozen = temporaries(in: folder).first?.size {
          bytesAtKill = frozen
          child.signalAndContinue(signal)
          break
        }
        child.continue()
      }
      let status = child.wait()
      let now = try Data(contentsOf: URL(fileURLWithPath: target))
      let leftovers = temporaries(in: folder)
      guard let bytesAtKill else {
        // Not caught mid-write (it ran to the end): it must have replaced the file completely.
        #expect(status == .exited(0), "attempt \(attempt): \(status)")
        try expectModel(at: target, equals: expected)
        #expect(leftovers.isEmpty)
        continue
      }
      landed = (attempt, bytesAtKill)
      if signal == SIGKILL {
        // Killed while frozen: nothing ran after the freeze, so the rename cannot have happened.
        #expect(now == old, "SIGKILL during the write changed the target")
        #expect(status == .signalled(SIGKILL), "\(status)")
        #expect(leftovers.count == 1, "SIGKILL cannot be caught: the temporary stays (\(leftovers))")
      } else {
        // The handler removes the temporary and exits; the writing thread, resumed at the same
        // time, could still finish the rename first: then the target is the complete new model.
        if now == old {
          #expect(status == .exited(128 + signal), "\(status)")
        } else {
          try expectModel(at: target, equals: expected)
        }
        #expect(leftovers.isEmpty, "signal \(signal) left \(leftovers.map(\.name))")
      }
      for leftover in leftovers {
        try FileManager.default.removeItem(atPath: folder.path + "/" + leftover.name)
      }
    }
    let caught = try #require(landed, "no import was caught while its temporary existed")
    #expect(caught.bytes <= finalSize)

    // After the rename (the temporary gone, the target replaced): the complete new model.
    try old.write(to: URL(fileURLWithPath: target))
    let child = try SpawnedTool(arguments)
    let oldFile = inode(of: target)
    var sawTemporary = false
    while child.isRunning {
      usleep(100)
      if !temporaries(in: folder).isEmpty {
        sawTemporary = true
        continue
      }
      // Renamed into place: the target is another file (the temporary's inode).
      guard sawTemporary, inode(of: target) != oldFile else { continue }
      guard child.stop() else { break }  // it may have exited first: the outcome is the same
      child.signalAndContinue(signal)
      break
    }
    _ = child.wait()
    #expect(sawTemporary, "the import never showed its temporary")
    try expectModel(at: target, equals: expected)
    #expect(temporaries(in: folder).isEmpty)
  }

  private func inode(of path: String) -> UInt64 {
    var info = stat()
    return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
  }

  private func expectModel(at path: String, equals expected: CapsModel) throws {
    let (model, _) = try ModelFile.read(at: path)
    #expect(model.orderedKeys == expected.orderedKeys)
    #expect(model.orderedKeys.allSatisfy { model.tensor($0) == expected.tensor($0) })
  }

  /// The import's temporary files in `folder` (`.out.h5.<pid>-<random>.tmp`) and their sizes.
  private func temporaries(in folder: URL) -> [(name: String, size: Int)] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return names.filter { $0.hasPrefix(".out.h5.") && $0.hasSuffix(".tmp") }.map { name in
      var info = stat()
      let size = stat(folder.path + "/" + name, &info) == 0 ? Int(info.st_size) : 0
      return (name, size)
    }
  }
}

/// capsconv started with posix_spawn, so that the test owns waitpid (stopped, continued, exited).
private final class SpawnedTool {
  enum Status: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)
    var description: String {
      switch self {
      case .exited(let code): "exit \(code)"
      case .signalled(let number): "signal \(number)"
      }
    }
  }

  let pid: pid_t
  private var finished: Status?

  init(_ arguments: [String]) throws {
    let executable = Fixtures.productsDirectory.appendingPathComponent("capsconv").path
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var child: pid_t = 0
    let result = posix_spawn(&child, executable, &actions, nil, argv, environ)
    guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO) }
    pid = child
  }

  /// Whether it has not exited yet (reaps it if it has).
  var isRunning: Bool {
    if finished != nil { return false }
    var status: Int32 = 0
    if waitpid(pid, &status, WNOHANG) == pid { finished = Self.decode(status) }
    return finished == nil
  }

  /// Sends SIGSTOP and waits until it is stopped; false if it exited first.
  func stop() -> Bool {
    kill(pid, SIGSTOP)
    var status: Int32 = 0
    while waitpid(pid, &status, WUNTRACED) == -1 && errno == EINTR {}
    if (status & 0xff) == 0x7f { return true }  // WIFSTOPPED
    finished = Self.decode(status)
    return false
  }

  func `continue`() { kill(pid, SIGCONT) }

  /// Sends `signal` to the stopped process, then lets it run (to handle it, or die of it).
  func signalAndContinue(_ signal: Int32) {
    kill(pid, signal)
    kill(pid, SIGCONT)
  }

  /// Waits for the exit and returns how it ended.
  func wait() -> Status {
    if let finished { return finished }
    var status: Int32 = 0
    while true {
      let result = waitpid(pid, &status, 0)
      if result == pid, (status & 0xff) != 0x7f { break }
      if result == -1 && errno != EINTR { break }
    }
    finished = Self.decode(status)
    return finished!
  }

  private static func decode(_ status: Int32) -> Status {
    (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
  }
}
