import CapsFiles
import Foundation

/// One part of a partition of the inputs between N workers (`--shard K/N`, `--shard-from-env`).
///
/// An input belongs to shard `FNV-1a-64(path bytes) mod N`, where the path is exactly as it appears
/// in the row's `file` field (as given, or as a directory listing composed it). So the shard of a
/// file depends neither on the order in which directories are listed nor on the machine that lists
/// them, the N shards are disjoint and their union is the unsharded run. FNV-1a 64: start from
/// 0xcbf29ce484222325; for each byte, xor it in, then multiply by 0x100000001b3 modulo 2^64
/// (docs/SCALE.md has the three-line Python version).
struct Shard: Equatable, CustomStringConvertible {
  /// This worker's part, 0..<count.
  let index: Int
  let count: Int

  init?(index: Int, count: Int) {
    guard count >= 1, (0..<count).contains(index) else { return nil }
    self.index = index
    self.count = count
  }

  var description: String { "\(index)/\(count)" }

  /// Whether `path` belongs to this shard.
  func contains(_ path: String) -> Bool {
    count == 1 || Int(Self.fnv1a64(FileName.bytes(path)) % UInt64(count)) == index
  }

  /// FNV-1a, 64 bits.
  static func fnv1a64<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
  }

  /// Why a shard could not be determined; a usage error (exit 64).
  struct Problem: Error, CustomStringConvertible {
    var description: String
  }

  /// Parses `K/N` with 0 <= K < N.
  static func parse(_ text: String) throws(Problem) -> Shard {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
      throw Problem(description: "--shard takes K/N, e.g. 0/4 (got '\(text)')")
    }
    guard let shard = Shard(index: index, count: count) else {
      throw Problem(description: "--shard K/N needs N >= 1 and 0 <= K < N (got '\(text)')")
    }
    return shard
  }

  /// The shard of a job-array task, from its environment:
  /// - Slurm: `SLURM_ARRAY_TASK_ID` is K; N is `shards` when given, else `SLURM_ARRAY_TASK_COUNT`,
  ///   which is accepted only for an array numbered 0..N-1 (`SLURM_ARRAY_TASK_MIN` 0 and
  ///   `SLURM_ARRAY_TASK_MAX` N-1 when set). With `shards`, an array reaching past it is refused.
  /// - Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` is K; N must be given (`shards`), since the
  ///   pod cannot see the job's completion count.
  /// Both kinds of variable at once, none, values that are not whole numbers, or K outside 0..<N are
  /// refused.
  static func fromEnvironment(_ environment: [String: String], shards: Int?) throws(Problem) -> Shard {
    func number(_ name: String) throws(Problem) -> Int? {
      guard let text = environment[name] else { return nil }
      guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
        throw Problem(description: "--shard-from-env: \(name)='\(text)' is not a whole number >= 0")
      }
      return value
    }
    if let shards, shards < 1 { throw Problem(description: "--shards takes a number >= 1") }
    let slurmIndex = try number("SLURM_ARRAY_TASK_ID")
    let jobIndex = try number("JOB_COMPLETION_INDEX")
    let index: Int
    let count: Int
    switch (slurmIndex, jobIndex) {
    case (nil, nil):
      throw Problem(
        description:
          "--shard-from-env: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set"
      )
    case (.some, .some):
      throw Problem(
        description:
          "--shard-from-env: both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set; give --shard K/N instead"
      )
    case (nil, .some(let k)):
      guard let shards else {
        throw Problem(
          description:
            "--shard-from-env with JOB_COMPLETION_INDEX needs --shards N (the Indexed Job's completions)")
      }
      (index, count) = (k, shards)
    case (.some(let k), nil):
      let taskCount = try number("SLURM_ARRAY_TASK_COUNT")
      let minimum = try number("SLURM_ARRAY_TASK_MIN")
      let maximum = try number("SLURM_ARRAY_TASK_MAX")
      if let shards {
        if let maximum, maximum >= shards {
          throw Problem(
            description:
              "--shard-from-env: the array reaches task \(maximum) (SLURM_ARRAY_TASK_MAX) but --shards is \(shards)"
          )
        }
        (index, count) = (k, shards)
      } else {
        guard let taskCount else {
          throw Problem(description: "--shard-from-env: SLURM_ARRAY_TASK_COUNT is not set; give --shards N")
        }
        if (minimum ?? 0) != 0 || (maximum.map { $0 != taskCount - 1 } ?? false) {
          throw Problem(
            description:
              "--shard-from-env: the array is not numbered 0..\(taskCount - 1) (SLURM_ARRAY_TASK_MIN \(minimum.map(String.init) ?? "unset"), MAX \(maximum.map(String.init) ?? "unset"), COUNT \(taskCount)); submit --array=0-\(taskCount - 1) or give --shards N"
          )
        }
        (index, count) = (k, taskCount)
      }
    }
    guard let shard = Shard(index: index, count: count) else {
      throw Problem(description: "--shard-from-env: task \(index) is outside 0..<\(count)")
    }
    return shard
  }
}
