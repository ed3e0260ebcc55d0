/// Names the file formats people hand to a model reader by mistake, so that the error says what the
/// file is instead of "cannot open as HDF5 (file signature not found)". Consulted only for a file
/// that is neither a ZIP (`torch.save`), a legacy `torch.save` stream nor a tar at its start, and
/// that has no HDF5 signature where HDF5 allows one (offset 0, 512, 1024, 2048, ...).
enum ForeignFormat {
  private static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
  private static let supported = "CapsKit reads HDF5 state_dicts and torch.save checkpoints"

  /// What the file is, as the reason of an error, or nil when it may be HDF5 (the HDF5 reader then
  /// reports its own findings).
  static func identify(_ file: RandomAccessFile) -> String? {
    guard !hasHDF5Signature(file) else { return nil }
    guard let head = try? file.bytes(at: 0, count: min(file.byteCount, 512)) else { return nil }
    func starts(_ magic: [UInt8]) -> Bool {
      head.count >= magic.count && Array(head[0..<magic.count]) == magic
    }
    if starts([0x1F, 0x8B]) {
      return "a gzip-compressed file, not a model file; decompress it first (gunzip)"
    }
    if starts(Array("BZh".utf8)) { return "a bzip2-compressed file, not a model file; decompress it first" }
    if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
      return "an xz-compressed file, not a model file; decompress it first"
    }
    if starts([0x28, 0xB5, 0x2F, 0xFD]) {
      return "a zstd-compressed file, not a model file; decompress it first"
    }
    if isSafetensors(head, fileSize: file.byteCount) {
      return "a safetensors file, which CapsKit does not read (\(supported)); "
        + "save the state_dict with torch.save or export it to HDF5"
    }
    if starts([0x93] + Array("NUMPY".utf8)) { return "a NumPy .npy array, not a model file (\(supported))" }
    if let offset = zipStart(file) {
      return "a ZIP archive with \(offset) bytes of other data in front of it; "
        + "a torch.save checkpoint starts with its ZIP header (remove the leading bytes)"
    }
    if head.count >= 2, head[0] == 0x80, (2...5).contains(head[1]) {
      return "a pickle stream without torch.save's header, not a checkpoint CapsKit can read (\(supported))"
    }
    if starts([0x89] + Array("PNG".utf8)) { return "a PNG image, not a model file" }
    return nil
  }

  private static func hasHDF5Signature(_ file: RandomAccessFile) -> Bool {
    var offset = 0
    while offset <= file.byteCount - hdf5Signature.count {
      if (try? file.bytes(at: offset, count: hdf5Signature.count)) == hdf5Signature { return true }
      offset = offset == 0 ? 512 : offset * 2
    }
    return false
  }

  /// safetensors: an 8-byte little-endian header length, then that many bytes of JSON (`{...`).
  private static func isSafetensors(_ head: [UInt8], fileSize: Int) -> Bool {
    guard head.count >= 9, head[8] == UInt8(ascii: "{") else { return false }
    let length = head[0..<8].enumerated().reduce(UInt64(0)) {
      $0 | UInt64($1.element) << (8 * UInt64($1.offset))
    }
    return length >= 2 && length <= UInt64(fileSize - 8)
  }

  /// The offset of the first local file header of a ZIP archive that does not start at byte 0: the
  /// end-of-central-directory record (within the last 64 KiB + 22 bytes) locates the central
  /// directory, whose first entry names its local header; the difference is the prefix.
  private static func zipStart(_ file: RandomAccessFile) -> Int? {
    let tailCount = min(file.byteCount, 65_535 + 22)
    guard tailCount >= 22, let tail = try? file.bytes(at: file.byteCount - tailCount, count: tailCount)
    else { return nil }
    var index = tail.count - 22
    while index >= 0 {
      if tail[index] == 0x50, tail[index + 1] == 0x4B, tail[index + 2] == 5, tail[index + 3] == 6 {
        func le32(_ at: Int) -> Int {
          (0..<4).reduce(0) { $0 | Int(tail[at + $1]) << (8 * $1) }
        }
        let recordOffset = file.byteCount - tailCount + index
        var prefix = recordOffset - le32(index + 12) - le32(index + 16)
        // ZIP64 (torch.save writes it): a 20-byte locator before the record gives the stated
        // offset of the 56-byte ZIP64 end record just before it.
        let locator = index - 20
        if locator >= 56, tail[locator] == 0x50, tail[locator + 1] == 0x4B, tail[locator + 2] == 6,
          tail[locator + 3] == 7
        {
          prefix = recordOffset - 20 - 56 - le32(locator + 8)
        }
        return prefix > 0 ? prefix : nil
      }
      index -= 1
    }
    return nil
  }
}
