import CapsFiles

/// One member of a ZIP archive, as its central directory describes it.
struct ZipEntry: Sendable {
  let name: String
  /// 0 = stored; anything else is a compression method we do not read.
  let method: UInt16
  let flags: UInt16
  let crc32: UInt32
  let compressedByteCount: Int
  let byteCount: Int
  let localHeaderOffset: Int
  /// Where the member's bytes start (after its local header), checked to lie in the file.
  let dataOffset: Int
}

/// A read-only ZIP archive of stored (uncompressed) members, as `torch.save` writes them; ZIP64
/// aware.
///
/// Everything is validated when the archive is opened, before any member is read: the end records,
/// the entry count, every name (no absolute paths, no `..`), every size and offset against the
/// file's actual size, and that members do not overlap. A member is read whole, with its CRC-32
/// checked. Compressed or encrypted members are refused when read. Nothing is ever extracted.
final class ZipArchive {
  /// Most entries accepted (a torch checkpoint has one per storage plus five).
  static let maxEntryCount = 100_000
  /// Largest central directory accepted, in bytes.
  static let maxDirectoryByteCount = 64 << 20

  let path: String
  /// Entries in central-directory order.
  let entries: [ZipEntry]
  /// True when the archive has ZIP64 end records.
  let isZip64: Bool
  private let file: RandomAccessFile
  private let index: [String: Int]

  private static let endSignature: UInt32 = 0x0605_4B50
  private static let zip64EndSignature: UInt32 = 0x0606_4B50
  private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
  private static let directorySignature: UInt32 = 0x0201_4B50
  private static let localSignature: UInt32 = 0x0403_4B50

  /// Opens and validates the archive.
  init(path: String) throws(FormatError) {
    let file = try RandomAccessFile(path: path)
    self.path = path
    self.file = file
    let end = try Self.readEnd(file)
    isZip64 = end.isZip64
    entries = try Self.readDirectory(file, end: end)
    var index: [String: Int] = [:]
    for (position, entry) in entries.enumerated() {
      guard index.updateValue(position, forKey: entry.name) == nil else {
        throw FormatError(
          .corrupt, path: path, detail: "ZIP entry '\(entry.name)' appears twice", tensor: entry.name)
      }
    }
    self.index = index
  }

  private func failure(_ reason: String, _ kind: FormatError.Kind = .corrupt, entry: ZipEntry? = nil)
    -> FormatError
  {
    FormatError(kind, path: path, detail: reason, tensor: entry?.name, offset: entry?.dataOffset)
  }

  /// The entry named `name`, or nil.
  func entry(named name: String) -> ZipEntry? { index[name].map { entries[$0] } }

  /// A stored member's bytes; refuses compressed or encrypted members, members larger than
  /// `maxByteCount` (before allocating) and a CRC-32 mismatch.
  func contents(of entry: ZipEntry, maxByteCount: Int) throws(FormatError) -> [UInt8] {
    try checkReadable(entry, maxByteCount: maxByteCount)
    var bytes = [UInt8](repeating: 0, count: entry.byteCount)
    var failure: FormatError?
    bytes.withUnsafeMutableBytes { buffer in
      do throws(FormatError) {
        try file.read(at: entry.dataOffset, into: buffer)
        try checkCRC(entry, UnsafeRawBufferPointer(buffer))
      } catch { failure = error }
    }
    if let failure { throw failure }
    return bytes
  }

  /// Reads a stored member into `buffer`, which must be exactly `entry.byteCount` long.
  func read(_ entry: ZipEntry, into buffer: UnsafeMutableRawBufferPointer) throws(FormatError) {
    try checkReadable(entry, maxByteCount: buffer.count)
    precondition(buffer.count == entry.byteCount, "buffer size differs from the entry size")
    try file.read(at: entry.dataOffset, into: buffer)
    try checkCRC(entry, UnsafeRawBufferPointer(buffer))
  }

  private func checkReadable(_ entry: ZipEntry, maxByteCount: Int) throws(FormatError) {
    if entry.flags & 0x41 != 0 {
      throw failure("ZIP entry '\(entry.name)' is encrypted", .unsupported, entry: entry)
    }
    guard entry.method == 0 else {
      let name = entry.method == 8 ? "deflate" : "method \(entry.method)"
      throw failure(
        "ZIP entry '\(entry.name)' is compressed (\(name)); torch.save stores entries uncompressed, re-save the checkpoint with torch.save",
        .unsupported, entry: entry)
    }
    guard entry.byteCount <= maxByteCount else {
      throw failure(
        "ZIP entry '\(entry.name)' has \(entry.byteCount) bytes, more than the \(maxByteCount) allowed",
        .limitExceeded,
        entry: entry)
    }
  }

  private func checkCRC(_ entry: ZipEntry, _ bytes: UnsafeRawBufferPointer) throws(FormatError) {
    let actual = CRC32.checksum(bytes)
    guard actual == entry.crc32 else {
      throw failure(
        "ZIP entry '\(entry.name)' is corrupt (CRC-32 \(hex(actual)), the directory says \(hex(entry.crc32)))",
        entry: entry)
    }
  }

  // MARK: End records

  private struct End {
    var entryCount: Int
    var directoryOffset: Int
    var directoryByteCount: Int
    /// Where the central directory must end: the first end record.
    var directoryLimit: Int
    var isZip64: Bool
  }

  private static func readEnd(_ file: RandomAccessFile) throws(FormatError) -> End {
    let path = file.path
    func failure(_ reason: String, _ kind: FormatError.Kind = .corrupt) -> FormatError {
      FormatError(kind, path: path, detail: reason)
    }
    guard file.byteCount >= 22 else {
      throw failure("not a ZIP archive (\(file.byteCount) bytes)", .truncated)
    }
    // The end record is the last 22 bytes plus a comment of at most 65,535 bytes.
    let tailCount = min(file.byteCount, 22 + 0xFFFF)
    let tailStart = file.byteCount - tailCount
    let tail = try file.bytes(at: tailStart, count: tailCount)
    var found: Int?
    var position = tailCount - 22
    while position >= 0 {
      if tail[position] == 0x50, tail[position + 1] == 0x4B, tail[position + 2] == 5, tail[position + 3] == 6
      {
        let commentCount = Int(tail[position + 20]) | Int(tail[position + 21]) << 8
        if position + 22 + commentCount == tailCount {
          found = position
          break
        }
      }
      position -= 1
    }
    guard let found else {
      throw failure("not a ZIP archive (no end of central directory record)", .truncated)
    }
    var reader = ByteReader(tail, at: found + 4, context: "the ZIP end record", path: path)
    let disk = try reader.uint16()
    let directoryDisk = try reader.uint16()
    let entriesOnDisk = try reader.uint16()
    let entries = try reader.uint16()
    let directorySize = try reader.uint32()
    let directoryOffset = try reader.uint32()
    let endOffset = tailStart + found

    var end = End(
      entryCount: Int(entries), directoryOffset: Int(directoryOffset),
      directoryByteCount: Int(directorySize), directoryLimit: endOffset, isZip64: false)
    let needsZip64 =
      entries == 0xFFFF || entriesOnDisk == 0xFFFF || directorySize == 0xFFFF_FFFF
      || directoryOffset == 0xFFFF_FFFF || disk == 0xFFFF || directoryDisk == 0xFFFF
    // ZIP64 locator: 20 bytes just before the end record.
    var hasLocator = false
    if endOffset >= 20 {
      let locator = try file.bytes(at: endOffset - 20, count: 20)
      var locatorReader = ByteReader(locator, context: "the ZIP64 end locator", path: path)
      hasLocator = try locatorReader.uint32() == zip64LocatorSignature
      if hasLocator {
        let zip64Disk = try locatorReader.uint32()
        let zip64Offset = try locatorReader.uint64()
        let diskCount = try locatorReader.uint32()
        guard zip64Disk == 0, diskCount <= 1 else {
          throw failure("multi-disk ZIP archives are not supported", .unsupported)
        }
        guard zip64Offset <= UInt64(endOffset - 20), endOffset - 20 - Int(zip64Offset) >= 56 else {
          throw failure("the ZIP64 end record offset \(zip64Offset) lies outside the file")
        }
        let record = try file.bytes(at: Int(zip64Offset), count: 56)
        var recordReader = ByteReader(record, context: "the ZIP64 end record", path: path)
        guard try recordReader.uint32() == zip64EndSignature else {
          throw failure("the ZIP64 end locator points to no ZIP64 end record")
        }
        try recordReader.skip(8 + 2 + 2)  // record size, versions
        let zip64ThisDisk = try recordReader.uint32()
        let zip64DirectoryDisk = try recordReader.uint32()
        let zip64EntriesOnDisk = try recordReader.uint64()
        let zip64Entries = try recordReader.uint64()
        let zip64DirectorySize = try recordReader.uint64()
        let zip64DirectoryOffset = try recordReader.uint64()
        guard zip64ThisDisk == 0, zip64DirectoryDisk == 0, zip64EntriesOnDisk == zip64Entries else {
          throw failure("multi-disk ZIP archives are not supported", .unsupported)
        }
        guard zip64Entries <= UInt64(maxEntryCount) else {
          throw failure(
            "the ZIP archive claims \(zip64Entries) entries, more than the \(maxEntryCount) allowed",
            .limitExceeded)
        }
        guard zip64DirectorySize <= UInt64(file.byteCount), zip64DirectoryOffset <= UInt64(file.byteCount)
        else {
          throw failure(
            "the ZIP64 end record puts the directory at \(zip64DirectoryOffset) (\(zip64DirectorySize) bytes), past the end of the \(file.byteCount)-byte file"
          )
        }
        // Where the 32-bit record gives a real value, it must agree with the ZIP64 one.
        let entriesDisagree = entries != 0xFFFF && UInt64(entries) != zip64Entries
        let sizeDisagrees = directorySize != 0xFFFF_FFFF && UInt64(directorySize) != zip64DirectorySize
        let offsetDisagrees =
          directoryOffset != 0xFFFF_FFFF && UInt64(directoryOffset) != zip64DirectoryOffset
        if entriesDisagree || sizeDisagrees || offsetDisagrees {
          throw failure("the ZIP end record and the ZIP64 end record disagree")
        }
        end = End(
          entryCount: Int(zip64Entries), directoryOffset: Int(zip64DirectoryOffset),
          directoryByteCount: Int(zip64DirectorySize), directoryLimit: Int(zip64Offset), isZip64: true)
      }
    }
    if needsZip64, !hasLocator {
      throw failure("the ZIP end record needs a ZIP64 end record, which is missing")
    }
    if !end.isZip64 {
      guard disk == 0, directoryDisk == 0, entriesOnDisk == entries else {
        throw failure("multi-disk ZIP archives are not supported", .unsupported)
      }
    }
    guard end.entryCount <= maxEntryCount else {
      throw failure(
        "the ZIP archive claims \(end.entryCount) entries, more than the \(maxEntryCount) allowed",
        .limitExceeded)
    }
    guard end.directoryOffset <= end.directoryLimit,
      end.directoryByteCount <= end.directoryLimit - end.directoryOffset
    else {
      throw failure(
        "the ZIP central directory (\(end.directoryByteCount) bytes at \(end.directoryOffset)) runs past its end record at \(end.directoryLimit)"
      )
    }
    guard end.directoryByteCount <= maxDirectoryByteCount else {
      throw failure(
        "the ZIP central directory has \(end.directoryByteCount) bytes, more than the \(maxDirectoryByteCount) allowed",
        .limitExceeded)
    }
    guard end.directoryByteCount >= end.entryCount * 46 else {
      throw failure(
        "the ZIP central directory has \(end.directoryByteCount) bytes, too few for \(end.entryCount) entries"
      )
    }
    return end
  }

  // MARK: Central directory

  private static func readDirectory(_ file: RandomAccessFile, end: End) throws(FormatError) -> [ZipEntry] {
    let path = file.path
    func failure(_ reason: String, _ kind: FormatError.Kind = .corrupt) -> FormatError {
      FormatError(kind, path: path, detail: reason)
    }
    let directory = try file.bytes(at: end.directoryOffset, count: end.directoryByteCount)
    var reader = ByteReader(directory, context: "the ZIP central directory", path: path)
    struct Record {
      var name: String
      var method: UInt16
      var flags: UInt16
      var crc: UInt32
      var compressed: Int
      var size: Int
      var offset: Int
    }
    var records: [Record] = []
    records.reserveCapacity(end.entryCount)
    for number in 0..<end.entryCount {
      guard try reader.uint32() == directorySignature else {
        throw failure("ZIP central directory entry \(number) has a bad signature")
      }
      try reader.skip(4)  // versions
      let flags = try reader.uint16()
      let method = try reader.uint16()
      try reader.skip(4)  // time, date
      let crc = try reader.uint32()
      var compressed = UInt64(try reader.uint32())
      var size = UInt64(try reader.uint32())
      let nameCount = Int(try reader.uint16())
      let extraCount = Int(try reader.uint16())
      let commentCount = Int(try reader.uint16())
      var disk = UInt32(try reader.uint16())
      try reader.skip(6)  // internal and external attributes
      var offset = UInt64(try reader.uint32())
      let nameBytes = try reader.take(nameCount)
      var extra = ByteReader(
        Array(try reader.take(extraCount)), context: "the ZIP64 extra field of entry \(number)", path: path)
      try reader.skip(commentCount)
      guard let name = String(validating: nameBytes, as: UTF8.self) else {
        throw failure("ZIP entry \(number) has a name that is not UTF-8")
      }
      try validate(name: name, path: path)
      // ZIP64 extended information: only the fields whose 32-bit value is saturated, in this order.
      while extra.remaining >= 4 {
        let tag = try extra.uint16()
        let count = Int(try extra.uint16())
        guard tag == 0x0001 else {
          try extra.skip(count)
          continue
        }
        var field = ByteReader(
          Array(try extra.take(count)), context: "the ZIP64 field of '\(name)'", path: path)
        if size == 0xFFFF_FFFF { size = try field.uint64() }
        if compressed == 0xFFFF_FFFF { compressed = try field.uint64() }
        if offset == 0xFFFF_FFFF { offset = try field.uint64() }
        if disk == 0xFFFF { disk = try field.uint32() }
      }
      guard disk == 0 else { throw failure("ZIP entry '\(name)' is on another disk", .unsupported) }
      let limit = UInt64(end.directoryOffset)
      guard offset <= limit, compressed <= limit, size <= UInt64(Int.max / 2) else {
        throw failure(
          "ZIP entry '\(name)' claims \(compressed) bytes at offset \(offset), past the data area (\(limit) bytes)"
        )
      }
      if method == 0, compressed != size {
        throw failure("ZIP entry '\(name)' is stored but its sizes differ (\(compressed) and \(size) bytes)")
      }
      records.append(
        Record(
          name: name, method: method, flags: flags, crc: crc, compressed: Int(compressed), size: Int(size),
          offset: Int(offset)))
    }

    // Local headers: each entry's data must lie in the data area, without overlapping the next entry.
    var entries: [ZipEntry] = []
    entries.reserveCapacity(records.count)
    for record in records {
      guard record.offset <= end.directoryOffset - 30 else {
        throw failure(
          "ZIP entry '\(record.name)' has its local header at \(record.offset), past the data area")
      }
      let header = try file.bytes(at: record.offset, count: 30)
      var local = ByteReader(header, context: "the local header of '\(record.name)'", path: path)
      guard try local.uint32() == localSignature else {
        throw failure("ZIP entry '\(record.name)' has no local header at offset \(record.offset)")
      }
      try local.skip(22)
      let nameCount = Int(try local.uint16())
      let extraCount = Int(try local.uint16())
      let dataOffset = record.offset + 30 + nameCount + extraCount
      guard dataOffset <= end.directoryOffset, record.compressed <= end.directoryOffset - dataOffset else {
        throw failure(
          "ZIP entry '\(record.name)' claims \(record.compressed) bytes at offset \(dataOffset), past the data area (\(end.directoryOffset) bytes)"
        )
      }
      let localName = try file.bytes(at: record.offset + 30, count: nameCount)
      guard localName.elementsEqual(record.name.utf8) else {
        throw failure("ZIP entry '\(record.name)' has another name in its local header")
      }
      entries.append(
        ZipEntry(
          name: record.name, method: record.method, flags: record.flags, crc32: record.crc,
          compressedByteCount: record.compressed, byteCount: record.size, localHeaderOffset: record.offset,
          dataOffset: dataOffset))
    }
    let ordered = entries.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
    for (first, second) in zip(ordered, ordered.dropFirst())
    where first.dataOffset + first.compressedByteCount > second.localHeaderOffset {
      throw failure("ZIP entries '\(first.name)' and '\(second.name)' overlap")
    }
    return entries
  }

  /// Refuses names that could escape a folder if extracted, or that no torch archive has.
  private static func validate(name: String, path: String) throws(FormatError) {
    func failure(_ reason: String, _ kind: FormatError.Kind = .corrupt) -> FormatError {
      FormatError(kind, path: path, detail: reason)
    }
    guard !name.isEmpty, name.utf8.count <= 4096 else {
      throw failure("ZIP entry name of \(name.utf8.count) bytes")
    }
    let shown = String(name.unicodeScalars.map { $0.value < 0x20 ? "?" : Character($0) })
    if name.hasPrefix("/") || name.contains("\\") || name.utf8.contains(0)
      || name.unicodeScalars.contains(where: { $0.value < 0x20 })
    {
      throw failure("ZIP entry name '\(shown)' is absolute or has forbidden characters", .unsafeContent)
    }
    let components = name.split(separator: "/", omittingEmptySubsequences: false)
    if components.contains(where: { $0 == ".." }) {
      throw failure("ZIP entry name '\(shown)' escapes the archive (path traversal)", .unsafeContent)
    }
    if let first = components.first, first.count == 2, first.last == ":" {
      throw failure("ZIP entry name '\(shown)' starts with a drive letter", .unsafeContent)
    }
  }
}

func hex(_ value: UInt32) -> String {
  let digits = String(value, radix: 16)
  return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
