/// The superblock: where the file's structures start and how big its addresses are.
struct HDF5Superblock {
  var version: Int
  var sizes: HDF5Sizes
  /// Address of the root group's object header.
  var rootAddress: UInt64

  private static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

  /// Finds the superblock (at offset 0, 512, 1024, ... as a user block may precede it), sets the
  /// storage's base address to it and checks that the file is as long as the superblock says.
  static func read(_ storage: HDF5Storage) throws(HDF5Error) -> HDF5Superblock {
    var offset = 0
    while offset <= storage.byteCount - signature.count {
      if try storage.absoluteBytes(at: offset, count: signature.count) == signature {
        storage.setBaseAddress(offset)
        return try parse(storage, at: offset)
      }
      offset = offset == 0 ? 512 : offset * 2
    }
    throw storage.failure(.wrongFormat, "file signature not found")
  }

  private static func parse(_ storage: HDF5Storage, at offset: Int) throws(HDF5Error) -> HDF5Superblock {
    let head = try storage.absoluteBytes(at: offset, count: min(256, storage.byteCount - offset))
    var cursor = HDF5Cursor(
      head, at: 8, what: "superblock", storage: storage, atEndOfFile: head.count < 256)
    let version = Int(try cursor.uint8())
    let sizes: HDF5Sizes
    let endOfFile: UInt64?
    let storedBase: UInt64?
    let root: UInt64?
    switch version {
    case 0, 1:
      try cursor.skip(4)  // free-space, root symbol table entry, reserved, shared header versions
      sizes = try readSizes(&cursor)
      try cursor.skip(1 + 2 + 2 + 4)  // reserved, group leaf and internal K, consistency flags
      if version == 1 { try cursor.skip(4) }  // indexed storage K, reserved
      storedBase = try cursor.address(sizes)
      _ = try cursor.address(sizes)  // free-space info
      endOfFile = try cursor.address(sizes)
      _ = try cursor.address(sizes)  // driver info
      // Root group symbol table entry: link name offset, object header address, cache data.
      _ = try cursor.address(sizes)
      root = try cursor.address(sizes)
    case 2, 3:
      sizes = try readSizes(&cursor)
      try cursor.skip(1)  // consistency flags
      storedBase = try cursor.address(sizes)
      _ = try cursor.address(sizes)  // superblock extension
      endOfFile = try cursor.address(sizes)
      root = try cursor.address(sizes)
      try cursor.expectChecksum(from: 0)
    default:
      throw storage.failure(.unsupported, "unsupported superblock version \(version)")
    }
    guard let root else { throw storage.corrupt("superblock has no root group") }
    // Addresses count from the superblock's position whatever base the file stores (as in
    // libhdf5); the end-of-file address moves with it when the two differ.
    if let endOfFile {
      let shift = Int64(offset) &- Int64(bitPattern: storedBase ?? 0)
      let expected = Int64(bitPattern: endOfFile) &+ shift
      if expected > Int64(storage.byteCount) || expected < 0 {
        throw storage.failure(
          .truncated, "truncated file: it has \(storage.byteCount) bytes, the superblock says \(expected)")
      }
    }
    return HDF5Superblock(version: version, sizes: sizes, rootAddress: root)
  }

  private static func readSizes(_ cursor: inout HDF5Cursor) throws(HDF5Error) -> HDF5Sizes {
    let offsets = Int(try cursor.uint8())
    let lengths = Int(try cursor.uint8())
    guard [2, 4, 8].contains(offsets), [2, 4, 8].contains(lengths) else {
      throw cursor.unsupported("unsupported offset/length sizes \(offsets)/\(lengths)")
    }
    return HDF5Sizes(offsets: offsets, lengths: lengths)
  }
}
