import CapsFiles

/// What the decoding thread drops or refuses before decoding: inputs of other shards (`--shard`),
/// inputs whose rows are already in the `--resume` file, and the output file itself named as an
/// input. Counters only: nothing is kept per input.
struct InputFilter {
  var shard: Shard?
  /// The rows already in the `--resume` file, and how this run's rows encode their `file` field.
  var done: DoneRows?
  var format: OutputFormat = .table
  /// The `-o` file (with `--resume`, or an existing one to be replaced with `--force`): never read.
  var protected: FileIdentity?

  /// Inputs that belong to other shards.
  private(set) var otherShards = 0
  /// Inputs skipped because their row is already in the `--resume` file.
  private(set) var alreadyDone = 0
  /// Whether an input was the `-o` file (it is then not replaced).
  private(set) var outputWasInput = false

  /// The item to process, an error row in its place, or nil when it is not this run's.
  mutating func admit(_ item: InputPaths.Item) -> InputPaths.Item? {
    let path: String
    switch item {
    case .file(let file): path = file
    case .failed(let file, _): path = file
    }
    if let shard, !shard.contains(path) {
      otherShards += 1
      return nil
    }
    if done != nil,
      done!.claim(RowKey(encodedField: FileName.bytes(ResultFormatter.fileField(path, format: format))))
    {
      alreadyDone += 1
      return nil
    }
    if case .file = item, let protected, FileIdentity(path) == protected {
      outputWasInput = true
      return .failed(path: path, reason: "is the output file of this run (-o); not read, and not replaced")
    }
    return item
  }
}
