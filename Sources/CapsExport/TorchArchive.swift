import CZlib
import CapsFormat

/// A `torch.save` checkpoint in the ZIP format of PyTorch >= 1.6, built in memory.
///
/// Members, in the order torch writes them, all under the record prefix `archive/`: `data.pkl`
/// (``StateDictPickle``), `.format_version` ("1"), `.storage_alignment` ("64"), `byteorder`
/// ("little"), one `data/<n>` per tensor (float32, little-endian, contiguous), `version` ("3\n")
/// and `.data/serialization_id`. Every member is stored (not compressed) and its data starts on a
/// 64-byte boundary: like torch, the local header's extra field (id `FB`) is padded with `Z`s.
/// Unlike torch, the CRC-32 and sizes are in the local header (no data descriptors). Archives past
/// 4 GiB would need ZIP64 records and are refused.
enum TorchArchive {
  static let prefix = "archive/"
  static let alignment = 64

  /// The archive of `tensors` (key, tensor) in order.
  static func bytes(tensors: [(key: String, tensor: Tensor)]) throws(ExportError) -> [UInt8] {
    let entries = tensors.enumerated().map {
      StateDictPickle.Entry(key: $1.key, shape: $1.tensor.shape, storageKey: String($0))
    }
    var members: [(name: String, data: [UInt8])] = [
      ("data.pkl", StateDictPickle.bytes(for: entries)),
      (".format_version", Array("1".utf8)),
      (".storage_alignment", Array(String(alignment).utf8)),
      ("byteorder", Array("little".utf8)),
    ]
    for (index, item) in tensors.enumerated() {
      members.append(("data/\(index)", item.tensor.values.withUnsafeBytes { Array($0) }))
    }
    members.append(("version", Array("3\n".utf8)))
    // torch writes a random 40-digit number; ours is derived from the content, so that exporting the
    // same model twice gives the same bytes.
    var seed = UInt64(members.count)
    for member in members { seed = seed &* 0x100_0000_01B3 ^ UInt64(checksum(member.data)) }
    var digits = ""
    for _ in 0..<40 {
      seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      digits.append(Character(String((seed >> 33) % 10)))
    }
    members.append((".data/serialization_id", Array(digits.utf8)))
    return try zip(members.map { (prefix + $0.name, $0.data) })
  }

  /// A ZIP archive of stored members whose data start on `alignment`-byte boundaries.
  static func zip(_ members: [(name: String, data: [UInt8])]) throws(ExportError) -> [UInt8] {
    var out: [UInt8] = []
    var directory: [UInt8] = []
    let date: UInt16 = 0x21  // 1980-01-01, as torch and most ZIP writers use for reproducible files
    for (name, data) in members {
      let offset = out.count
      let nameBytes = Array(name.utf8)
      let headerEnd = offset + 30 + nameBytes.count
      var padding = (alignment - (headerEnd + 4) % alignment) % alignment
      if padding > 0xFFFF - 4 { padding = 0 }
      let crc = checksum(data)
      guard offset + 30 + nameBytes.count + 4 + padding + data.count <= Int(UInt32.max) else {
        throw ExportError(kind: .tooLarge, reason: "the archive would pass 4 GiB (ZIP64 is not written)")
      }
      func header(_ signature: UInt32, central: Bool, extra: Int, _ out: inout [UInt8]) {
        StateDictPickle.littleEndian(signature, &out)
        if central { StateDictPickle.littleEndian(UInt16(20), &out) }  // version made by
        StateDictPickle.littleEndian(UInt16(20), &out)  // version needed
        StateDictPickle.littleEndian(UInt16(0x0800), &out)  // UTF-8 names
        StateDictPickle.littleEndian(UInt16(0), &out)  // stored
        StateDictPickle.littleEndian(UInt16(0), &out)  // time
        StateDictPickle.littleEndian(date, &out)
        StateDictPickle.littleEndian(crc, &out)
        StateDictPickle.littleEndian(UInt32(data.count), &out)
        StateDictPickle.littleEndian(UInt32(data.count), &out)
        StateDictPickle.littleEndian(UInt16(nameBytes.count), &out)
        StateDictPickle.littleEndian(UInt16(extra), &out)
        if central {
          out += [UInt8](repeating: 0, count: 8)  // comment length, disk, internal and external attributes
          out += [0, 0]
          StateDictPickle.littleEndian(UInt32(offset), &out)
        }
        out += nameBytes
      }
      header(0x0403_4B50, central: false, extra: 4 + padding, &out)
      out += [0x46, 0x42]  // "FB", torch's padding record
      StateDictPickle.littleEndian(UInt16(padding), &out)
      out += [UInt8](repeating: UInt8(ascii: "Z"), count: padding)
      out += data
      header(0x0201_4B50, central: true, extra: 0, &directory)
    }
    guard members.count <= 0xFFFF, out.count + directory.count <= Int(UInt32.max) else {
      throw ExportError(kind: .tooLarge, reason: "the archive would pass 4 GiB (ZIP64 is not written)")
    }
    let directoryOffset = out.count
    out += directory
    StateDictPickle.littleEndian(UInt32(0x0605_4B50), &out)
    out += [0, 0, 0, 0]  // disk numbers
    StateDictPickle.littleEndian(UInt16(members.count), &out)
    StateDictPickle.littleEndian(UInt16(members.count), &out)
    StateDictPickle.littleEndian(UInt32(directory.count), &out)
    StateDictPickle.littleEndian(UInt32(directoryOffset), &out)
    out += [0, 0]  // comment length
    return out
  }

  /// zlib's CRC-32.
  static func checksum(_ data: [UInt8]) -> UInt32 {
    var crc: UInt = 0
    var start = 0
    data.withUnsafeBufferPointer { buffer in
      while start < buffer.count {
        let count = min(buffer.count - start, 1 << 30)
        crc = CZlib.crc32(crc, buffer.baseAddress! + start, UInt32(count))
        start += count
      }
    }
    return UInt32(truncatingIfNeeded: crc)
  }
}
