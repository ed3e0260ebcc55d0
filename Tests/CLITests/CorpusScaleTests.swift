import CapsTestSupport
import Foundation
import Testing

/// capsinfer as a worker on a large corpus: `-o` written atomically, `--quiet`, `--files-from`,
/// `--shard`/`--shard-from-env`, `--resume` after SIGKILL. The runs use the micro model of
/// Fixtures/hdf5 (1,968 parameters, 4 classes): its rows are a real model's, and it classifies the
/// ~100 fixture digits in well under a second even in a debug build.
@Suite struct CorpusScaleTests {
  static let micro = Fixtures.path("hdf5/model_defaults.h5")

  /// The fixture digits, in name order (their paths as given on each row).
  static func digits() throws -> [String] {
    let folder = Fixtures.path("digits")
    return try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".png") }
      .sorted()
      .map { folder + "/" + $0 }
  }

  static func withFolder(_ body: (String) throws -> Void) throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    try body(folder.path)
  }

  static func read(_ path: String) -> String? {
    (try? Data(contentsOf: URL(fileURLWithPath: path))).map { String(decoding: $0, as: UTF8.self) }
  }

  /// FNV-1a 64 written from its published definition (offset basis 0xcbf29ce484222325, prime
  /// 0x100000001b3), checked below against the published test vectors.
  static func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return hash
  }

  // MARK: -o and --quiet

  @Test func outputFileHoldsExactlyTheRowsAndQuietPrintsNothing() throws {
    try Self.withFolder { folder in
      let inputs = Array(try Self.digits().prefix(6)) + [Fixtures.path("bad/truncated.png")]
      let direct = try runTool("capsinfer", ["--model", Self.micro, "--format", "csv"] + inputs)
      #expect(direct.status == 1)
      #expect(direct.stderr.contains("capsinfer: 6 files classified, 1 failed in "))
      let out = folder + "/rows.csv"
      let quiet = try runTool(
        "capsinfer", ["--model", Self.micro, "--format", "csv", "-q", "-o", out] + inputs)
      #expect(quiet.status == 1, "a failed file still exits 1, and the file is written")
      #expect(quiet.stdout.isEmpty)
      // Only the per-file error line: no summary.
      let messages = quiet.stderr.split(separator: "\n").map(String.init).filter {
        !$0.contains("no CapsKit metadata")  // the micro model's note on loading
      }
      #expect(messages == ["capsinfer: \(inputs.last!): truncated file (unexpected end of data at byte 166)"])
      #expect(Self.read(out) == direct.stdout)
      #expect(
        direct.stdout.hasPrefix("file,prediction,class_index,length_0,length_1,length_2,length_3,error\n"))
      // An existing file is kept unless --force.
      let again = try runTool("capsinfer", ["--model", Self.micro, "-o", out, inputs[0]])
      #expect(again.status == 1)
      #expect(again.stderr.contains("rows.csv: already exists"), "\(again.stderr)")
      #expect(Self.read(out) == direct.stdout)
      let forced = try runTool(
        "capsinfer", ["--model", Self.micro, "--format", "jsonl", "--force", "-o", out, inputs[0]])
      #expect(forced.status == 0, "\(forced.stderr)")
      #expect(Self.read(out)?.hasPrefix("{\"file\":\"\(inputs[0])\"") == true)
      #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["rows.csv"])
    }
  }

  @Test func outputIsNeverAnInputAndAFailedRunLeavesNoFile() throws {
    try Self.withFolder { folder in
      let digit = try Self.digits()[0]
      let copy = folder + "/x.png"
      try FileManager.default.copyItem(atPath: digit, toPath: copy)
      let original = try Data(contentsOf: URL(fileURLWithPath: copy))
      // Named on the command line, or reached through a directory listing: never replaced.
      for arguments in [[copy, "-o", copy, "--force"], [folder, "-o", copy, "--force"]] {
        let result = try runTool("capsinfer", ["--model", Self.micro] + arguments)
        #expect(result.status == 1, "\(arguments)")
        #expect(result.stderr.contains("is an input of this run"), "\(arguments): \(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == original, "\(arguments)")
      }
      // Nothing to classify: no file, no temporary file.
      let empty = folder + "/empty.txt"
      try Data().write(to: URL(fileURLWithPath: empty))
      let none = try runTool(
        "capsinfer", ["--model", Self.micro, "--files-from", empty, "-o", folder + "/out.csv"])
      #expect(none.status == 1)
      #expect(none.stderr.contains("no files to classify"))
      #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder)) == ["x.png", "empty.txt"])
    }
  }

  @Test func interruptedOutputLeavesNoFile() throws {
    try Self.withFolder { folder in
      // Paths come from a FIFO held open: the run is under way (its temporary file exists) when
      // SIGINT or SIGTERM arrives.
      for signal in ["INT", "TERM"] {
        let script = """
          mkfifo paths
          "$TOOLS/capsinfer" --model '\(Self.micro)' -o out.csv --files-from paths 2>/dev/null &
          pid=$!
          exec 3>paths
          echo '\(try Self.digits()[0])' >&3
          i=0; while [ $i -lt 400 ] && ! ls -a | grep -q '^\\.out\\.csv\\..*\\.tmp$'; do sleep 0.05; i=$((i+1)); done
          ls -a | grep -c 'tmp$'
          kill -\(signal) $pid; wait $pid; echo "status=$?"
          exec 3>&-
          rm paths
          ls -A
          """
        let run = try runShell(script, in: URL(fileURLWithPath: folder), timeout: 60)
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "1", "the temporary file existed: \(run.stdout)")
        let expected = signal == "INT" ? 130 : 143
        #expect(lines.dropFirst().first == "status=\(expected)", "\(run.stdout)")
        #expect(lines.count == 2, "no out.csv and no temporary file left: \(run.stdout)")
      }
    }
  }

  // MARK: Inputs

  @Test func filesFromAListOrStandardInputEqualsThePathsGiven() throws {
    try Self.withFolder { folder in
      let inputs = Array(try Self.digits().prefix(5))
      let list = folder + "/list.txt"
      try Data((inputs.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: list))
      let base = ["--model", Self.micro, "--format", "jsonl", "-q"]
      let given = try runTool("capsinfer", base + inputs)
      #expect(given.status == 0, "\(given.stderr)")
      #expect(given.stdout.split(separator: "\n").count == 5)
      let fromList = try runTool("capsinfer", base + ["--files-from", list])
      let fromStdin = try runTool(
        "capsinfer", base + ["--files-from", "-"], input: inputs.joined(separator: "\n"))
      #expect(fromList.stdout == given.stdout)
      #expect(fromStdin.stdout == given.stdout)
      // Paths given come first, then the list.
      let both = try runTool("capsinfer", base + ["--files-from", list, inputs[4]])
      let rows = both.stdout.split(separator: "\n").map(String.init)
      #expect(rows.count == 6 && rows[0].hasPrefix("{\"file\":\"\(inputs[4])\""))
    }
  }

  // MARK: Shards

  @Test func fnvTestVectors() {
    #expect(Self.fnv1a("") == 0xcbf2_9ce4_8422_2325)
    #expect(Self.fnv1a("a") == 0xaf63_dc4c_8601_ec8c)
    #expect(Self.fnv1a("foobar") == 0x8594_4171_f739_67e8)
  }

  @Test(arguments: [3, 7])
  func shardsPartitionTheFixtureDigits(count: Int) throws {
    try Self.withFolder { folder in
      let inputs = try Self.digits() + [Fixtures.path("bad/not_png.png")]
      let list = folder + "/list.txt"
      try Data((inputs.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: list))
      let base = ["--model", Self.micro, "--format", "jsonl", "--files-from", list]
      let whole = try runTool("capsinfer", base + ["-q"])
      #expect(whole.status == 1)
      let wholeRows = whole.stdout.split(separator: "\n").map(String.init)
      try #require(wholeRows.count == inputs.count)
      var union: [String] = []
      for k in 0..<count {
        let part = try runTool("capsinfer", base + ["--shard", "\(k)/\(count)"])
        let rows = part.stdout.split(separator: "\n").map(String.init)
        // Exactly the inputs whose FNV-1a hash is k mod N, in input order, each row as unsharded.
        let mine = inputs.indices.filter { Self.fnv1a(inputs[$0]) % UInt64(count) == UInt64(k) }
        #expect(rows == mine.map { wholeRows[$0] }, "shard \(k)/\(count)")
        #expect(!rows.isEmpty, "shard \(k)/\(count) is not empty for 101 inputs")
        #expect(
          part.stderr.contains("shard \(k)/\(count): \(inputs.count - mine.count) inputs in other shards"),
          "\(part.stderr)")
        union += rows
      }
      #expect(union.count == wholeRows.count, "disjoint")
      #expect(union.sorted() == wholeRows.sorted(), "the union is the unsharded run")
    }
  }

  @Test func shardFromEnvironmentMatchesShard() throws {
    let inputs = Array(try Self.digits().prefix(12))
    let base = ["--model", Self.micro, "--format", "csv", "-q"]
    let expected = try runTool("capsinfer", base + ["--shard", "2/3"] + inputs)
    #expect(expected.status == 0)
    let environments = [
      "SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=2",
      "SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=1 SLURM_ARRAY_TASK_MIN=2 SLURM_ARRAY_TASK_MAX=2 SHARDS=3",
      "JOB_COMPLETION_INDEX=2 SHARDS=3",
    ]
    for environment in environments {
      let script =
        "env \(environment) \"$TOOLS/capsinfer\" \(base.joined(separator: " ")) --shard-from-env "
        + "${SHARDS:+--shards $SHARDS} \(inputs.joined(separator: " "))"
      let run = try runShell(environment.contains("SHARDS=3") ? "SHARDS=3; " + script : script)
      #expect(run.status == 0, "\(environment): \(run.stderr)")
      #expect(run.stdout == expected.stdout, "\(environment)")
    }
  }

  @Test(arguments: [
    "SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=3",  // K >= N
    // Not numbered 0..N-1.
    "SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=3",
    "SLURM_ARRAY_TASK_ID=1",  // no count
    "SLURM_ARRAY_TASK_ID=x SLURM_ARRAY_TASK_COUNT=3",  // not a number
    "JOB_COMPLETION_INDEX=1",  // no --shards
    "JOB_COMPLETION_INDEX=1 SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3",  // both
    "",  // neither
  ])
  func inconsistentShardEnvironmentExits64(environment: String) throws {
    let run = try runShell(
      "env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX \(environment) \"$TOOLS/capsinfer\" --shard-from-env x.png"
    )
    #expect(run.status == 64, "\(environment): \(run.stderr)")
    #expect(run.stderr.contains("--shard-from-env"), "\(run.stderr)")
  }

  @Test(arguments: [
    ["--shard", "3/3", "x.png"], ["--shard", "1", "x.png"], ["--shard", "-1/2", "x.png"],
    ["--shards", "3", "x.png"], ["--shard", "0/2", "--shard-from-env", "x.png"],
    ["--resume", "x.png"], ["--resume", "-o", "out.txt", "x.png"],
    ["--resume", "--force", "--format", "csv", "-o", "out.csv", "x.png"],
    ["--files-from", "-", "-"], ["--files-from", "", "x.png"], ["-o", "", "x.png"],
  ])
  func badCorpusOptionsExit64(arguments: [String]) throws {
    let result = try runTool("capsinfer", arguments)
    #expect(result.status == 64, "\(arguments): \(result.stderr)")
    #expect(result.stdout.isEmpty)
  }

  // MARK: Resume

  /// Kills a `--resume` run (SIGKILL) once its file has grown past a random size, 5 times, then
  /// lets one finish: the file equals an uninterrupted run's, byte for byte (same rows, same order),
  /// with no duplicate and no torn line.
  @Test func resumeAfterSIGKILLGivesTheUninterruptedRows() throws {
    try Self.withFolder { folder in
      let inputs = try Self.digits()
      let list = folder + "/list.txt"
      try Data((inputs.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: list))
      let arguments = [
        "--model", Self.micro, "--format", "jsonl", "--files-from", list, "--batch-size", "1", "--threads",
        "1",
      ]
      let reference = try runTool("capsinfer", arguments + ["-q"])
      #expect(reference.status == 0, "\(reference.stderr)")
      let full = reference.stdout.utf8.count
      let out = folder + "/rows.jsonl"
      var random = SeededGenerator(seed: 18)
      var killedMidway = 0
      for _ in 0..<5 {
        let process = Process()
        process.executableURL = Fixtures.productsDirectory.appendingPathComponent("capsinfer")
        process.arguments = arguments + ["-o", out, "--resume", "-q"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let before = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        let threshold = before + Int(random.next() % UInt64(max(1, (full - before) / 2)))
        try process.run()
        let start = Date()
        while process.isRunning, Date().timeIntervalSince(start) < 30,
          ((try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0) <= threshold
        {
          usleep(200)
        }
        if process.isRunning { killedMidway += 1 }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
      }
      #expect(killedMidway >= 3, "most kills land before the end")
      let last = try runTool("capsinfer", arguments + ["-o", out, "--resume"])
      #expect(last.status == 0, "\(last.stderr)")
      let text = try #require(Self.read(out))
      #expect(text == reference.stdout)
      let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
      #expect(Set(lines).count == inputs.count && lines.count == inputs.count, "no duplicate")
      #expect(
        lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }, "no torn line")
      // Nothing left to do: a success that writes nothing.
      let done = try runTool("capsinfer", arguments + ["-o", out, "--resume"])
      #expect(done.status == 0, "\(done.stderr)")
      #expect(done.stderr.contains("0 files classified, 0 failed"), "\(done.stderr)")
      #expect(done.stderr.contains("; \(inputs.count) already in"), "\(done.stderr)")
      #expect(Self.read(out) == reference.stdout)
    }
  }

  /// A CSV row torn at every possible byte (quoted names holding a comma, a quote and a line break
  /// included) is cut off and redone; a file that is not capsinfer's is refused, not appended to.
  @Test func resumeCutsOffATornCSVRow() throws {
    try Self.withFolder { folder in
      let digits = try Self.digits()
      let corpus = folder + "/in"
      try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: false)
      for (index, name) in ["a.png", "b,\"q\".png", "c\nd.png"].enumerated() {
        try FileManager.default.copyItem(atPath: digits[index], toPath: corpus + "/" + name)
      }
      let arguments = ["--model", Self.micro, "--format", "csv", corpus, "-q"]
      let reference = try runTool("capsinfer", arguments)
      #expect(reference.status == 0, "\(reference.stderr)")
      let bytes = Array(reference.stdout.utf8)
      #expect(reference.stdout.contains("\"\(corpus)/b,\"\"q\"\".png\""))
      let out = folder + "/rows.csv"
      // Cut points across the rows holding the quoted names: inside a quoted field, after its
      // doubled quote and after its line break, at a row boundary, just before the final line break.
      let start = try #require(reference.stdout.range(of: "\n\"")).lowerBound.utf16Offset(
        in: reference.stdout)
      let marks = ["b,", "\"\"q", "\"\"q\"\"", "c\n"].compactMap { mark in
        reference.stdout.range(of: mark).map { $0.upperBound.utf16Offset(in: reference.stdout) }
      }
      #expect(marks.count == 4)
      let cuts = Set(
        [start, start + 1, bytes.count - 1, bytes.count] + marks
          + stride(from: start, to: bytes.count, by: 37))
      for cut in cuts.sorted() {
        try Data(bytes[0..<cut]).write(to: URL(fileURLWithPath: out))
        let resumed = try runTool("capsinfer", arguments + ["-o", out, "--resume"])
        #expect(resumed.status == 0, "cut \(cut): \(resumed.stderr)")
        #expect(Self.read(out) == reference.stdout, "cut \(cut)")
      }
      // Another model's header, or a row that is not capsinfer's: refused, file untouched.
      for foreign in [
        "file,prediction,length_0\n",
        "file,prediction,class_index,length_0,length_1,length_2,length_3,error\nx",
      ] {
        try Data(foreign.utf8).write(to: URL(fileURLWithPath: out))
        let refused = try runTool("capsinfer", arguments + ["-o", out, "--resume"])
        if foreign.hasSuffix("x") {
          // A lone unterminated line is a torn row: cut off, and the rows appended.
          #expect(refused.status == 0, "\(refused.stderr)")
          #expect(Self.read(out) == reference.stdout)
        } else {
          #expect(refused.status == 1)
          #expect(refused.stderr.contains("not a capsinfer output to resume"), "\(refused.stderr)")
          #expect(Self.read(out) == foreign)
        }
      }
      try Data("{\"name\":\"x\"}\n".utf8).write(to: URL(fileURLWithPath: out))
      let json = try runTool(
        "capsinfer", ["--model", Self.micro, "--format", "jsonl", corpus, "-o", out, "--resume"])
      #expect(json.status == 1)
      #expect(json.stderr.contains("line 1: a row must start with {\"file\":"), "\(json.stderr)")
    }
  }
}
