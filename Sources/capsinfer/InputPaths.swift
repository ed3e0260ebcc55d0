import CapsFiles
import CapsImage

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The files to classify, produced one at a time from the command-line paths: files as given,
/// directories listed in name order (descending with `recursive`), `-` read lazily from standard
/// input, one path per line, then the `--files-from` manifest, read the same way. Only one directory
/// listing per level and one line are held in memory: nothing is kept per input, so memory does not
/// grow with the number of paths streamed.
///
/// Paths are file-system bytes (``CapsFiles/FileName``): names that are not UTF-8 are kept exactly.
/// What cannot be classified is reported as a failed item, never dropped: a standard-input line
/// longer than PATH_MAX or holding a NUL byte, a listed entry whose path exceeds PATH_MAX, a named
/// directory with no PNG file in it, and (with --reconstruct) a reconstruction of this run.
struct InputPaths: IteratorProtocol {
  /// A path to classify, or a path that could not be listed.
  enum Item {
    case file(String)
    case failed(path: String, reason: String)
  }

  private var arguments: IndexingIterator<[String]>
  private let recursive: Bool
  /// The list of paths being read (standard input or the manifest), mutated in place (a copy
  /// would duplicate its buffer), and its name for messages.
  private var lines: LineReader?
  private var linesName = ""
  /// The `--files-from` list, read once the arguments are done.
  private var manifest: (descriptor: Int32, name: String)?
  /// Outputs of this run (--reconstruct), never read as inputs.
  private let outputs: RunFiles?
  /// Directories being listed, innermost last.
  private var listings: [Listing] = []
  /// What was left out of directory listings.
  private(set) var skipped = SkipCounts()

  private struct Listing {
    var directory: String
    var identity: FileIdentity
    var names: [String]
    var next = 0
    /// Named on the command line or standard input (not reached by --recursive).
    var isNamed: Bool
    /// Items produced from this listing and those under it.
    var produced = 0
  }

  /// - Parameter manifest: An open `--files-from` list (`STDIN_FILENO` for `-`) and its name for
  ///   messages ("standard input" or the path).
  init(
    arguments: [String], recursive: Bool, manifest: (descriptor: Int32, name: String)? = nil,
    outputs: RunFiles? = nil
  ) {
    self.arguments = arguments.makeIterator()
    self.manifest = manifest
    self.recursive = recursive
    self.outputs = outputs
  }

  mutating func next() -> Item? {
    let item = nextItem()
    if case .file(let path) = item, let outputs, let reason = outputs.registerInput(path) {
      return .failed(path: path, reason: reason)
    }
    return item
  }

  private mutating func nextItem() -> Item? {
    while true {
      if let item = nextFromListings() { return item }
      if lines != nil {
        let name = linesName
        switch lines!.next() {
        case .end:
          lines = nil
        case .line(let bytes):
          if bytes.isEmpty { continue }
          let path = FileName.decode(bytes)
          if bytes.contains(0) {
            return .failed(
              path: bytes.split(separator: 0, omittingEmptySubsequences: false).map { FileName.decode($0) }
                .joined(separator: "\\0"),
              reason: "the path read from \(name) holds a NUL byte")
          }
          if let item = open(path, named: true) { return item }
        case .tooLong(let start):
          return .failed(
            path: FileName.decode(start) + "...",
            reason: "\(name) line longer than \(Self.maximumLineBytes) bytes (PATH_MAX); skipped")
        case .failed(let code):
          lines = nil
          return .failed(
            path: name == "standard input" ? "-" : name,
            reason: "cannot read \(name) (\(ReadableFile.errnoText(code)))")
        }
        continue
      }
      guard let argument = arguments.next() else {
        guard let list = manifest else { return nil }
        manifest = nil
        lines = LineReader(descriptor: list.descriptor, maxLineBytes: Self.maximumLineBytes)
        linesName = list.name
        continue
      }
      if argument == "-" {
        lines = LineReader(descriptor: STDIN_FILENO, maxLineBytes: Self.maximumLineBytes)
        linesName = "standard input"
        continue
      }
      if let item = open(argument, named: true) { return item }
    }
  }

  /// A named path: a directory starts a listing; anything else (even a missing file) is attempted.
  private mutating func open(_ path: String, named: Bool) -> Item? {
    guard let identity = FileIdentity(path), identity.isDirectory else { return .file(path) }
    return beginListing(path, identity: identity, named: named)
  }

  private mutating func beginListing(_ directory: String, identity: FileIdentity, named: Bool) -> Item? {
    if listings.contains(where: { $0.identity == identity }) {
      skipped.loops += 1
      return nil
    }
    switch Self.sortedNames(in: directory) {
    case .success(let names):
      listings.append(Listing(directory: directory, identity: identity, names: names, isNamed: named))
      return nil
    case .failure(let error):
      return .failed(path: directory, reason: error.reason)
    }
  }

  private mutating func nextFromListings() -> Item? {
    while let index = listings.indices.last {
      guard listings[index].next < listings[index].names.count else {
        let finished = listings.removeLast()
        if let parent = listings.indices.last { listings[parent].produced += finished.produced }
        if finished.isNamed && finished.produced == 0 {
          return .failed(path: finished.directory, reason: "no PNG files in this directory")
        }
        continue
      }
      let name = listings[index].names[listings[index].next]
      listings[index].next += 1
      let directory = listings[index].directory
      let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
      if FileName.bytes(path).count >= Int(PATH_MAX) {
        listings[index].produced += 1
        return .failed(path: path, reason: "path longer than PATH_MAX (\(PATH_MAX) bytes); not read")
      }
      let identity = FileIdentity(path)
      if let identity, identity.isDirectory {
        if recursive {
          if let item = beginListing(path, identity: identity, named: false) {
            listings[index].produced += 1
            return item
          }
        } else {
          skipped.directories += 1
        }
      } else if Self.hasPNGExtension(name) {
        listings[index].produced += 1
        return .file(path)
      } else {
        skipped.countFile(named: name)
      }
    }
    return nil
  }

  /// The longest path line accepted from standard input or a manifest.
  static let maximumLineBytes = Int(PATH_MAX) - 1

  static func hasPNGExtension(_ name: String) -> Bool {
    name.utf8.count > 4 && name.lowercased().hasSuffix(".png")
  }

  /// The number of files when no argument is `-` or a directory (so a progress bar knows its end).
  static func countIfOnlyFiles(_ arguments: [String]) -> Int? {
    for argument in arguments where argument == "-" || FileIdentity(argument)?.isDirectory == true {
      return nil
    }
    return arguments.count
  }

  /// The number of inputs of `shard` for a progress bar, when it can be known without listing a
  /// directory or reading standard input: files given, plus the non-empty lines of a `--files-from`
  /// list that is a regular file (read once, a block at a time). Nil otherwise.
  static func countForProgress(arguments: [String], manifest: String?, shard: Shard?) -> Int? {
    guard countIfOnlyFiles(arguments) != nil, manifest != "-" else { return nil }
    var count = arguments.filter { shard?.contains($0) ?? true }.count
    guard let manifest else { return count }
    guard let info = AtomicReplacement.status(of: manifest, followingLinks: true),
      (info.st_mode & S_IFMT) == S_IFREG
    else { return nil }
    let descriptor = FileName.withCString(manifest) { openForReading($0) }
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var reader = LineReader(descriptor: descriptor, maxLineBytes: maximumLineBytes)
    while true {
      switch reader.next() {
      case .end: return count
      case .failed: return nil
      case .tooLong: count += 1
      case .line(let bytes):
        if !bytes.isEmpty && (shard?.contains(FileName.decode(bytes)) ?? true) { count += 1 }
      }
    }
  }

  private struct ListingError: Error {
    var reason: String
  }

  /// The entries of `directory` except `.` and `..`, sorted by name.
  private static func sortedNames(in directory: String) -> Result<[String], ListingError> {
    guard let stream = FileName.withCString(directory, { opendir($0) }) else {
      return .failure(ListingError(reason: "cannot list directory (\(String(cString: strerror(errno))))"))
    }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        FileName.decode(raw.prefix { $0 != 0 })
      }
      if name != "." && name != ".." { names.append(name) }
    }
    names.sort()
    return .success(names)
  }
}

/// Device and inode of a file (following symlinks), to recognise a directory already being listed.
struct FileIdentity: Hashable {
  var device: UInt64
  var inode: UInt64
  var isDirectory: Bool

  init?(_ path: String) {
    var info = stat()
    guard FileName.withCString(path, { stat($0, &info) }) == 0 else { return nil }
    device = UInt64(info.st_dev)
    inode = UInt64(info.st_ino)
    isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
  }
}

/// Entries of listed directories that were not classified.
struct SkipCounts {
  /// Files without a .png extension.
  var files = 0
  /// Of those, how many have the extension of a known image format, by format name (`JPEG`, `GIF`, ...).
  var imageFormats: [String: Int] = [:]
  /// Subdirectories (without --recursive).
  var directories = 0
  /// Directories reached again through a symlink while being listed.
  var loops = 0

  /// Counts a skipped file, by the image format its extension names.
  mutating func countFile(named name: String) {
    files += 1
    if let dot = name.lastIndex(of: "."),
      let format = ImageSignature(fileExtension: String(name[name.index(after: dot)...]))
    {
      imageFormats[format.name, default: 0] += 1
    }
  }

  /// For example "3 non-PNG files (2 JPEG, 1 other), 1 subdirectory (use --recursive)"; nil when nothing
  /// was skipped.
  var description: String? {
    var parts: [String] = []
    if files > 0 {
      var text = "\(files) non-PNG \(files == 1 ? "file" : "files")"
      if !imageFormats.isEmpty {
        var kinds = imageFormats.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map {
          "\($0.value) \($0.key)"
        }
        let others = files - imageFormats.values.reduce(0, +)
        if others > 0 { kinds.append("\(others) other") }
        text += " (\(kinds.joined(separator: ", ")))"
      }
      parts.append(text)
    }
    if directories > 0 {
      parts.append("\(directories) \(directories == 1 ? "subdirectory" : "subdirectories") (use --recursive)")
    }
    if loops > 0 {
      parts.append("\(loops) symlinked \(loops == 1 ? "directory" : "directories") looping back")
    }
    return parts.isEmpty ? nil : parts.joined(separator: ", ")
  }
}
