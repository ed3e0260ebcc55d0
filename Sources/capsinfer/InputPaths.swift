import CapsImage

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The files to classify, produced one at a time from the command-line paths: files as given,
/// directories listed in name order (descending with `recursive`), and `-` read lazily from
/// standard input, one path per line. Only one directory listing per level is held in memory.
struct InputPaths: IteratorProtocol {
  /// A path to classify, or a path that could not be listed.
  enum Item {
    case file(String)
    case failed(path: String, reason: String)
  }

  private var arguments: IndexingIterator<[String]>
  private let recursive: Bool
  private var readingStandardInput = false
  /// Directories being listed, innermost last.
  private var listings: [Listing] = []
  /// What was left out of directory listings.
  private(set) var skipped = SkipCounts()

  private struct Listing {
    var directory: String
    var identity: FileIdentity
    var names: [String]
    var next = 0
  }

  init(arguments: [String], recursive: Bool) {
    self.arguments = arguments.makeIterator()
    self.recursive = recursive
  }

  mutating func next() -> Item? {
    while true {
      if let item = nextFromListings() { return item }
      if readingStandardInput {
        guard let line = readLine(strippingNewline: true) else {
          readingStandardInput = false
          continue
        }
        if line.isEmpty { continue }
        if let item = open(line) { return item }
        continue
      }
      guard let argument = arguments.next() else { return nil }
      if argument == "-" {
        readingStandardInput = true
        continue
      }
      if let item = open(argument) { return item }
    }
  }

  /// A named path: a directory starts a listing; anything else (even a missing file) is attempted.
  private mutating func open(_ path: String) -> Item? {
    guard let identity = FileIdentity(path), identity.isDirectory else { return .file(path) }
    return beginListing(path, identity: identity)
  }

  private mutating func beginListing(_ directory: String, identity: FileIdentity) -> Item? {
    if listings.contains(where: { $0.identity == identity }) {
      skipped.loops += 1
      return nil
    }
    switch Self.sortedNames(in: directory) {
    case .success(let names):
      listings.append(Listing(directory: directory, identity: identity, names: names))
      return nil
    case .failure(let error):
      return .failed(path: directory, reason: error.reason)
    }
  }

  private mutating func nextFromListings() -> Item? {
    while let index = listings.indices.last {
      guard listings[index].next < listings[index].names.count else {
        listings.removeLast()
        continue
      }
      let name = listings[index].names[listings[index].next]
      listings[index].next += 1
      let directory = listings[index].directory
      let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
      let identity = FileIdentity(path)
      if let identity, identity.isDirectory {
        if recursive {
          if let item = beginListing(path, identity: identity) { return item }
        } else {
          skipped.directories += 1
        }
      } else if Self.hasPNGExtension(name) {
        return .file(path)
      } else {
        skipped.countFile(named: name)
      }
    }
    return nil
  }

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

  private struct ListingError: Error {
    var reason: String
  }

  /// The entries of `directory` except `.` and `..`, sorted by name.
  private static func sortedNames(in directory: String) -> Result<[String], ListingError> {
    guard let stream = opendir(directory) else {
      return .failure(ListingError(reason: "cannot list directory (\(String(cString: strerror(errno))))"))
    }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    names.sort()
    return .success(names)
  }
}

/// Device and inode of a file (following symlinks), to recognise a directory already being listed.
struct FileIdentity: Equatable {
  var device: UInt64
  var inode: UInt64
  var isDirectory: Bool

  init?(_ path: String) {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
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
