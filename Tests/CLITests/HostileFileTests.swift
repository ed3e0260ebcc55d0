import CapsTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Issue 12, files, signals and names: each test reproduces one defect class of the second hostile
/// round (it hung, was killed by a signal, wrote the wrong file or reported the wrong thing before
/// the fix). Runs use the small model, and every run has a timeout, so a hang fails instead of
/// blocking the suite.
@Suite struct HostileFileTests {
  static let small = Fixtures.path("models/small.h5")
  static let digit = Fixtures.path("digits/d8000_gray8.png")
  static let otherDigit = Fixtures.path("digits/d8001_gray8.png")

  static func withFolder(_ body: (String) throws -> Void) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    try body(folder.path)
  }

  static func copy(_ from: String, _ to: String) throws {
    try FileManager.default.copyItem(atPath: from, toPath: to)
  }

  static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

  /// A run that ended by itself (no signal, no timeout) with `status`.
  static func expectExit(_ result: ToolResult, _ status: Int32, _ context: String = "") {
    #expect(!result.timedOut, "timed out: \(context)")
    #expect(!result.signaled, "killed by signal \(result.status): \(context)")
    #expect(result.status == status, "\(context): \(result.stderr)")
  }

  // MARK: FIFOs and devices (class 4)

  @Test func fifosAndDevicesAreRefusedWithoutHanging() throws {
    try Self.withFolder { folder in
      let fifo = folder + "/fifo.png"
      #expect(mkfifo(fifo, 0o600) == 0)
      let listed = folder + "/listed"
      try FileManager.default.createDirectory(atPath: listed, withIntermediateDirectories: false)
      #expect(mkfifo(listed + "/in-listing.png", 0o600) == 0)

      let file = try runTool("capsinfer", ["--model", Self.small, fifo], timeout: 20)
      Self.expectExit(file, 1, "capsinfer FIFO")
      #expect(file.stderr.contains("\(fifo): is a FIFO (named pipe), not a regular file"))

      let inListing = try runTool(
        "capsinfer", ["--model", Self.small, "--format", "csv", listed], timeout: 20)
      Self.expectExit(inListing, 1, "FIFO in a listed directory")
      #expect(inListing.stdout.contains("in-listing.png,,"))

      let zero = try runTool("capsinfer", ["--model", Self.small, "/dev/zero"], timeout: 20)
      Self.expectExit(zero, 1, "capsinfer /dev/zero")
      #expect(zero.stderr.contains("/dev/zero: is a character device, not a regular file"))

      let model = try runTool("capsinfer", ["--model", fifo, Self.digit], timeout: 20)
      Self.expectExit(model, 1, "--model FIFO")
      #expect(model.stderr.contains("is a FIFO (named pipe), not a regular file"))

      for input in [fifo, "/dev/zero"] {
        let imported = try runTool("capsconv", ["import", input, "-o", folder + "/out.h5"], timeout: 20)
        Self.expectExit(imported, 1, "capsconv import \(input)")
        #expect(imported.stderr.contains("not a regular file"))
      }
      let verify = try runTool(
        "capsconv", ["verify", Self.small, "--reference", fifo], timeout: 20)
      Self.expectExit(verify, 1, "verify with a FIFO reference")
    }
  }

  // MARK: Signals (class 6)

  @Test func aClosedOutputPipeIsAnErrorNotASignal() throws {
    try Self.withFolder { folder in
      // capsinfer writes into a FIFO that `head -c 1` closes after one byte; `wait` gives
      // capsinfer's own status (141 before the fix: SIGPIPE).
      let script = """
        mkfifo out
        "$TOOLS/capsinfer" --model '\(Self.small)' --batch-size 1 \
          '\(Self.digit)' '\(Self.otherDigit)' '\(Self.digit)' >out 2>err.txt &
        pid=$!
        head -c 1 out >/dev/null
        wait $pid
        echo "status=$?"
        cat err.txt
        """
      let run = try runShell(script, in: URL(fileURLWithPath: folder), timeout: 60)
      #expect(!run.timedOut)
      #expect(run.stdout.contains("status=1"), "\(run.stdout)")
      #expect(run.stdout.contains("standard output: write error (Broken pipe)"), "\(run.stdout)")
    }
  }

  /// Runs `/bin/sh -c script` with every signal unblocked and SIGPIPE and SIGXFSZ at their default
  /// action: the test runner may block or ignore them, which children inherit (and sh cannot undo
  /// an ignored signal), hiding the tool's own handling. Standard output and error go to
  /// `outputPath`. - Returns: the exit status, or nil if killed.
  static func runWithDefaultSignals(_ script: String, outputPath: String) -> Int32? {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    sigaddset(&defaults, SIGXFSZ)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let environment = ProcessInfo.processInfo.environment.merging(
      ["TOOLS": Fixtures.productsDirectory.path]) { $1 }
    let texts: [String] = ["/bin/sh", "-c", script]
    let arguments: [UnsafeMutablePointer<CChar>?] = texts.map { strdup($0) } + [nil]
    let variables: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0)=\($1)") } + [nil]
    defer { for pointer in arguments + variables { free(pointer) } }
    var pid = pid_t()
    guard posix_spawn(&pid, "/bin/sh", &actions, &attributes, arguments, variables) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : nil
  }

  @Test func aFileSizeLimitIsAWriteErrorNotASignal() throws {
    try Self.withFolder { folder in
      // The limit applies inside the braces only, where capsinfer's results go to a file (153,
      // killed by SIGXFSZ, before the fix); `cat` (outside) collects the messages.
      let status = Self.runWithDefaultSignals(
        "{ ulimit -f 0; \"$TOOLS/capsinfer\" --model '\(Self.small)' '\(Self.digit)' "
          + ">'\(folder)/rows.txt'; echo \"status=$?\"; } 2>&1 | cat",
        outputPath: folder + "/err.txt")
      let errors = String(decoding: Self.bytes(folder + "/err.txt") ?? Data(), as: UTF8.self)
      #expect(status == 0)
      #expect(errors.contains("status=1\n"), "\(errors)")
      #expect(errors.contains("standard output: write error (File too large)"), "\(errors)")
    }
  }

  @Test func sigtermDuringReconstructionLeavesNoTemporaryFile() throws {
    try Self.withFolder { folder in
      let inputs = (0..<24).map { Fixtures.path("digits/d80\(String(format: "%02d", $0))_gray8.png") }
      for run in 0..<4 {
        let output = folder + "/recon\(run)"
        let process = Process()
        process.executableURL = Fixtures.productsDirectory.appendingPathComponent("capsinfer")
        process.arguments = ["--model", Self.small, "--batch-size", "1", "--reconstruct", output] + inputs
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for the first reconstructions, then interrupt at a different point each run.
        let start = Date()
        while (try? FileManager.default.contentsOfDirectory(atPath: output))?.isEmpty != false,
          Date().timeIntervalSince(start) < 20
        {
          usleep(2_000)
        }
        usleep(UInt32(run) * 7_000)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit, "run \(run): killed by the signal")
        #expect(process.terminationStatus == 128 + SIGTERM || process.terminationStatus == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: output)
        #expect(names.allSatisfy { $0.hasSuffix(".recon.png") && !$0.hasPrefix(".") }, "run \(run): \(names)")
      }
    }
  }

  // MARK: --reconstruct and outputs (classes 7, 10, 13)

  @Test func reconstructionsNeverReplaceAnInputAndNeedForceForOtherFiles() throws {
    try Self.withFolder { folder in
      let a = folder + "/a.png"
      let userRecon = folder + "/a.recon.png"
      try Self.copy(Self.digit, a)
      try Self.copy(Self.otherDigit, userRecon)
      let original = Self.bytes(userRecon)
      for force in [false, true] {
        let result = try runTool(
          "capsinfer",
          [
            "--model", Self.small, "--format", "csv", "--batch-size", "1", "--reconstruct", folder, a,
            userRecon,
          ]
            + (force ? ["--force"] : []), timeout: 60)
        Self.expectExit(result, 1, "force \(force)")
        #expect(Self.bytes(userRecon) == original, "the user's a.recon.png was replaced (force \(force))")
        let rows = CapsinferTests.csvRows(result.stdout)
        #expect(rows.count == 2)
        // The input a.recon.png is classified as the user's file, not as a reconstruction.
        #expect(rows.last?["error"] == "", "\(rows)")
        // With or without --force: the destination is an input.
        let reason = "a.recon.png is an input of this run; not replaced"
        #expect(rows.first?["error"]?.contains(reason) == true, "\(rows)")
      }
      // Any other existing file needs --force, and is then replaced.
      let other = folder + "/out"
      try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: false)
      try Data("old".utf8).write(to: URL(fileURLWithPath: other + "/a.recon.png"))
      let refused = try runTool("capsinfer", ["--model", Self.small, "--reconstruct", other, a], timeout: 60)
      Self.expectExit(refused, 1, "existing output without --force")
      #expect(Self.bytes(other + "/a.recon.png") == Data("old".utf8))
      let forced = try runTool(
        "capsinfer", ["--model", Self.small, "--reconstruct", other, "--force", a], timeout: 60)
      Self.expectExit(forced, 0, "existing output with --force")
      #expect(Self.bytes(other + "/a.recon.png")?.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
    }
  }

  @Test func longNamesFitTheirTemporaryNames() throws {
    try Self.withFolder { folder in
      let output = folder + "/" + String(repeating: "o", count: 248) + ".h5"
      let imported = try runTool(
        "capsconv", ["import", Fixtures.path("pth/small.pth"), "-o", output], timeout: 60)
      Self.expectExit(imported, 0, "248-character output name")
      #expect(FileManager.default.fileExists(atPath: output))

      let input = folder + "/" + String(repeating: "i", count: 232) + ".png"
      try Self.copy(Self.digit, input)
      let recon = try runTool(
        "capsinfer", ["--model", Self.small, "--reconstruct", folder + "/r", input], timeout: 60)
      Self.expectExit(recon, 0, "236-character input name")
      #expect(
        FileManager.default.fileExists(
          atPath: folder + "/r/" + String(repeating: "i", count: 232) + ".recon.png"))
    }
  }

  @Test func forceReplacesOnlyRegularFiles() throws {
    try Self.withFolder { folder in
      let fifo = folder + "/out.h5"
      #expect(mkfifo(fifo, 0o600) == 0)
      let result = try runTool(
        "capsconv", ["import", Fixtures.path("pth/small.pth"), "-o", fifo, "--force"], timeout: 60)
      Self.expectExit(result, 1, "-o FIFO --force")
      #expect(result.stderr.contains("is a FIFO (named pipe), not a regular file; refusing to replace it"))
      var info = stat()
      #expect(lstat(fifo, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO, "the FIFO was replaced")
      // A character device of our own (as /dev/null: 1, 3), never a real /dev node: a regression
      // run as root would replace it. mknod needs root; otherwise only the FIFO is checked.
      let node = folder + "/null.h5"
      if mknod(node, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0 {  // makedev(1, 3)
        let device = try runTool(
          "capsconv", ["import", Fixtures.path("pth/small.pth"), "-o", node, "--force"], timeout: 60)
        Self.expectExit(device, 1, "-o <character device> --force")
        #expect(device.stderr.contains("\(node): is a character device, not a regular file"))
        #expect(lstat(node, &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR, "the device node was replaced")
      }
    }
  }

  // MARK: Names that are not UTF-8 (class 8)

  @Test func latin1NamesAreReadAndWrittenByteForByte() throws {
    try Self.withFolder { folder in
      let script = """
        name=$(printf 'latin1_\\351t\\351.png')
        cp '\(Self.digit)' "$name"
        mkdir listed && cp '\(Self.digit)' "listed/$name"
        "$TOOLS/capsinfer" --model '\(Self.small)' --format csv "$name" || echo "argument failed"
        "$TOOLS/capsinfer" --model '\(Self.small)' --format csv listed | tail -n +2 || echo "listing failed"
        printf '%s\\n' "$name" | "$TOOLS/capsinfer" --model '\(Self.small)' --format jsonl - || echo "stdin failed"
        "$TOOLS/capsinfer" --model '\(Self.small)' --format jsonl missing_$(printf '\\350').png
        "$TOOLS/capsconv" import '\(Fixtures.path("pth/small.pth"))' -o "$(printf 'out\\350.h5')" >/dev/null
        ls | od -An -c | tr -s ' ' | tr -d '\\n'
        """
      let result = try runShell(script, in: URL(fileURLWithPath: folder), timeout: 120)
      #expect(!result.timedOut)
      let text = result.stdoutBytes
      func contains(_ needle: [UInt8]) -> Bool {
        text.count >= needle.count
          && (0...(text.count - needle.count)).contains { Array(text[$0..<($0 + needle.count)]) == needle }
      }
      let raw: [UInt8] = Array("latin1_".utf8) + [0xE9, 0x74, 0xE9] + Array(".png,".utf8)
      #expect(contains(raw), "CSV carries the name's bytes")
      #expect(contains(Array("listed/".utf8) + raw), "directory listing")
      #expect(!result.stdout.contains("failed"), "\(result.stdout)")
      #expect(result.stdout.contains("{\"file\":\"latin1_\\udce9t\\udce9.png\",\"prediction\""), "JSONL")
      #expect(
        result.stderr.contains("missing_\\xE8.png: cannot open (No such file or directory)"),
        "\(result.stderr)")
      // od -c shows the output's bytes: "out" then octal 350, not the replacement character.
      #expect(result.stdout.contains("o u t 350 . h 5"), "\(result.stdout)")
    }
  }

  // MARK: Smaller (class 14)

  @Test func emptyDirectoriesAndEmptyRunsFail() throws {
    try Self.withFolder { folder in
      let empty = folder + "/empty"
      let named = folder + "/x.png"
      for directory in [empty, named] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let result = try runTool("capsinfer", ["--model", Self.small, directory], timeout: 30)
        Self.expectExit(result, 1, directory)
        #expect(result.stderr.contains("\(directory): no PNG files in this directory"))
      }
      let nothing = try runTool("capsinfer", ["--model", Self.small, "-"], input: "", timeout: 30)
      Self.expectExit(nothing, 1, "empty standard input")
      #expect(nothing.stderr.contains("no files to classify"))
    }
  }

  @Test func standardInputLinesWithNULOrBeyondPATHMAXAreErrorRows() throws {
    var input = Data("first\0hidden.png\n".utf8)
    input += Data(repeating: UInt8(ascii: "a"), count: 1 << 20)
    input += Data("\n\(Self.digit)\n".utf8)
    let result = try runShell(
      "exec \"$TOOLS/capsinfer\" --model '\(Self.small)' --format csv -", input: input, timeout: 60)
    Self.expectExit(result, 1, "NUL and long lines")
    let rows = CapsinferTests.csvRows(result.stdout)
    try #require(rows.count == 3, "\(result.stdout)")
    #expect(rows[0]["file"] == "first\\0hidden.png")
    #expect(rows[0]["error"]?.contains("NUL byte") == true)
    #expect(rows[1]["file"] == String(repeating: "a", count: 64) + "...")
    #expect(rows[1]["error"]?.contains("longer than 4095 bytes") == true)
    #expect(rows[2]["file"] == Self.digit && rows[2]["error"] == "")
  }

  @Test func pathsBeyondPATHMAXInListingsAreReported() throws {
    try Self.withFolder { folder in
      // Nested 200-byte directory names, created relative to each other (their full paths exceed
      // PATH_MAX), with a PNG at the bottom.
      let component = String(repeating: "d", count: 200)
      var descriptor = open(folder, O_RDONLY | O_DIRECTORY)
      for _ in 0..<21 {
        #expect(mkdirat(descriptor, component, 0o755) == 0)
        let next = openat(descriptor, component, O_RDONLY | O_DIRECTORY)
        close(descriptor)
        descriptor = next
      }
      let png = try #require(Self.bytes(Self.digit))
      let file = openat(descriptor, "deep.png", O_WRONLY | O_CREAT, 0o644)
      _ = png.withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
      close(file)
      close(descriptor)
      let result = try runTool(
        "capsinfer", ["--model", Self.small, "--format", "csv", "-r", folder], timeout: 60)
      Self.expectExit(result, 1, "-r beyond PATH_MAX")
      #expect(result.stderr.contains("longer than PATH_MAX"), "\(result.stderr)")
      #expect(!result.stderr.contains("non-PNG"), "\(result.stderr)")
    }
  }

  @Test func contradictoryOrOutOfRangeOptionsAreUsageErrors() throws {
    let both = try runTool(
      "capsinfer", ["--model", Self.small, "--invert", "--no-invert", Self.digit], timeout: 30)
    Self.expectExit(both, 64, "--invert --no-invert")
    let topK = try runTool("capsinfer", ["--model", Self.small, "--top-k", "11", Self.digit], timeout: 30)
    Self.expectExit(topK, 64, "--top-k 11")
    #expect(topK.stderr.contains("--top-k 11 is more than the 10 classes"))
    let force = try runTool("capsinfer", ["--model", Self.small, "--force", Self.digit], timeout: 30)
    Self.expectExit(force, 64, "--force without --reconstruct")
  }

  // MARK: Messages (class 12)

  @Test func filesThatAreNotModelsAreNamed() throws {
    try Self.withFolder { folder in
      let pth = try #require(Self.bytes(Fixtures.path("pth/small.pth")))
      let gzip = try runShell("gzip -c '\(Fixtures.path("pth/small.pth"))' > '\(folder)/gz.pth'", timeout: 30)
      #expect(gzip.status == 0)
      try (Data("#!/bin/sh\nexit 0\n".utf8) + pth).write(to: URL(fileURLWithPath: folder + "/junk.pth"))
      let header = Data(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
      var safetensors = Data()
      withUnsafeBytes(of: UInt64(header.count).littleEndian) { safetensors += Data($0) }
      safetensors += header + Data(count: 4)
      try safetensors.write(to: URL(fileURLWithPath: folder + "/model.safetensors"))
      let expected = [
        "gz.pth": "a gzip-compressed file, not a model file",
        "junk.pth": "a ZIP archive with 17 bytes of other data in front of it",
        "model.safetensors": "a safetensors file, which CapsKit does not read",
      ]
      for (name, message) in expected {
        let result = try runTool(
          "capsconv", ["import", folder + "/" + name, "-o", folder + "/o.h5"], timeout: 30)
        Self.expectExit(result, 1, name)
        #expect(result.stderr.contains("\(folder)/\(name): \(message)"), "\(result.stderr)")
        #expect(!result.stderr.contains("cannot open as HDF5"), "\(result.stderr)")
      }
    }
  }
}
