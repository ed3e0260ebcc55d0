/// The container of a checkpoint file, told from its first bytes.
enum CheckpointContainer: Equatable {
  /// A ZIP archive: `torch.save` since PyTorch 1.6.
  case zip
  /// The pickle stream `torch.save` wrote before PyTorch 1.6.
  case legacyTorch
  /// The tar file of the earliest PyTorch versions.
  case legacyTar
  /// Anything else is handed to HDF5, which names the problem if it is not HDF5 either.
  case hdf5

  /// `torch.save`'s legacy magic number 0x1950a86a20f9469cfc6c, as a pickled LONG1 (little-endian).
  private static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

  /// Looks at the first bytes of `path`; an unreadable file is left to HDF5 to report.
  static func sniff(path: String) -> CheckpointContainer {
    guard let file = try? RandomAccessFile(path: path) else { return .hdf5 }
    guard let head = try? file.bytes(at: 0, count: min(file.byteCount, 512)) else { return .hdf5 }
    return kind(of: head)
  }

  static func kind(of head: [UInt8]) -> CheckpointContainer {
    if head.count >= 4, head[0] == 0x50, head[1] == 0x4B,
      (head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)
    {
      return .zip
    }
    // PROTO n, LONG1 10, magic
    if head.count >= 14, head[0] == 0x80, head[2] == 0x8A, head[3] == 0x0A,
      Array(head[4..<14]) == legacyMagic
    {
      return .legacyTorch
    }
    // The tar format of the earliest PyTorch versions ("ustar" at offset 257).
    if head.count >= 262, Array(head[257..<262]) == Array("ustar".utf8) {
      return .legacyTar
    }
    return .hdf5
  }

  /// The tensor source for `path`: a `.pth` archive or legacy stream, or an HDF5 file.
  /// `stateDictKey` names the checkpoint entry holding the state_dict (`.pth` only).
  ///
  /// The file is opened first (a regular file only: a FIFO or a device is refused, naming what it
  /// is); a file that is none of these but recognisably something else (gzip, safetensors, a ZIP
  /// archive with bytes in front, ...) is refused naming what it is (``ForeignFormat``).
  static func openSource(at path: String, stateDictKey: String? = nil) throws(FormatError) -> any TensorSource
  {
    let file = try RandomAccessFile(path: path)
    let container = kind(of: try file.bytes(at: 0, count: min(file.byteCount, 512)))
    if container == .hdf5, let foreign = ForeignFormat.identify(file) {
      throw FormatError(.wrongFormat, path: path, detail: foreign)
    }
    switch container {
    case .zip:
      return try PthTensorSource(path: path, stateDictKey: stateDictKey)
    case .legacyTorch:
      return try PthTensorSource(legacyPath: path, stateDictKey: stateDictKey)
    case .legacyTar:
      throw FormatError(
        .unsupported, path: path,
        detail: "legacy PyTorch tar format; re-save it with torch.save in PyTorch >= 1.6")
    case .hdf5:
      if let stateDictKey {
        throw FormatError(
          .wrongFormat, path: path,
          detail:
            "--key '\(stateDictKey)' picks an entry of a torch.save checkpoint; this is not one (HDF5 or other)"
        )
      }
      do { return try HDF5File.open(path: path) } catch { throw FormatError(error) }
    }
  }
}
