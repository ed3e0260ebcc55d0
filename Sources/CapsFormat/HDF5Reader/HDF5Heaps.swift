/// Local heaps (link names of old-style groups).
extension HDF5Trees {
  /// The data segment of the local heap at `address` (link names of an old-style group).
  static func localHeap(at address: UInt64, context: HDF5Context) throws(HDF5Error) -> [UInt8] {
    let what = "local heap at \(address)"
    let sizes = context.sizes
    let head = try context.storage.metadata(
      at: address, count: 8 + 2 * sizes.lengths + sizes.offsets, what: what)
    var cursor = context.cursor(head, what: what)
    try cursor.expectSignature("HEAP")
    let version = try cursor.uint8()
    guard version == 0 else { throw cursor.unsupported("unsupported version \(version)") }
    try cursor.skip(3)
    let size = try cursor.length(sizes, limit: HDF5Storage.maxMetadataBlock, "data segment size")
    _ = try cursor.length(sizes, "free list offset")
    guard let data = try cursor.address(sizes) else { throw cursor.fail("no data segment") }
    return try context.storage.metadata(at: data, count: size, what: what)
  }

  /// The NUL-terminated string at `offset` of a local heap's data segment.
  static func heapString(_ heap: [UInt8], at offset: UInt64, context: HDF5Context) throws(HDF5Error) -> String
  {
    guard offset < UInt64(heap.count) else {
      throw context.storage.corrupt(
        "link name offset \(offset) lies outside the local heap of \(heap.count) bytes")
    }
    let tail = heap[Int(offset)...]
    guard let end = tail.firstIndex(of: 0) else {
      throw context.storage.corrupt("link name at heap offset \(offset) is not terminated")
    }
    return String(decoding: heap[Int(offset)..<end], as: UTF8.self)
  }
}

/// A fractal heap (managed, tiny and huge objects; filtered heaps are refused): where dense
/// link and attribute messages are stored. Indirect blocks are decoded once, however many
/// objects are looked up through them. Huge objects (larger than the heap's largest managed
/// object) live outside the heap, found through their address in the heap ID or through the
/// heap's v2 B-tree of huge objects (record type 1), and are bounded like any metadata block.
final class HDF5FractalHeap {
  let address: UInt64
  let idLength: Int
  private let context: HDF5Context
  private let tableWidth: Int
  private let startBlockSize: Int
  private let maxDirectRows: Int
  private let offsetBytes: Int
  private let lengthBytes: Int
  private let checksummedDirectBlocks: Bool
  private let rootAddress: HDF5Address
  private let rootRows: Int
  private let hugeObjectTree: HDF5Address
  /// Huge objects by key (address, length), read from their B-tree on first use.
  private var hugeObjects: [UInt64: (address: UInt64, length: Int)]?
  /// Child addresses of each indirect block read so far, with its row count.
  private var indirectBlocks: [UInt64: (rows: Int, children: [HDF5Address])] = [:]
  /// Direct blocks whose header has been checked.
  private var directBlocks: Set<UInt64> = []

  init(at address: UInt64, context: HDF5Context) throws(HDF5Error) {
    let sizes = context.sizes
    let what = "fractal heap at \(address)"
    let head = try context.storage.metadata(
      at: address, count: 4 + 1 + 2 + 2 + 1 + 4 + 12 * sizes.lengths + 3 * sizes.offsets + 2 + 2 + 2 + 2 + 4,
      what: what)
    var cursor = context.cursor(head, what: what)
    try cursor.expectSignature("FRHP")
    let version = try cursor.uint8()
    guard version == 0 else { throw cursor.unsupported("unsupported version \(version)") }
    idLength = try cursor.u16()
    let filterLength = try cursor.u16()
    guard filterLength == 0 else { throw cursor.unsupported("filtered fractal heaps are not supported") }
    let flags = try cursor.uint8()
    checksummedDirectBlocks = flags & 0x02 != 0
    let maxManagedSize = try cursor.u32()
    _ = try cursor.length(sizes, "next huge object id")
    hugeObjectTree = try cursor.address(sizes)
    _ = try cursor.length(sizes, "free space")
    _ = try cursor.address(sizes)  // free-space manager
    for _ in 0..<8 { _ = try cursor.length(sizes, "heap statistics") }
    tableWidth = try cursor.u16()
    startBlockSize = try cursor.length(sizes, limit: 1 << 30, "starting block size")
    let maxDirectSize = try cursor.length(sizes, limit: 1 << 30, "maximum direct block size")
    let maxHeapBits = try cursor.u16()
    _ = try cursor.u16()  // starting rows of the root indirect block
    rootAddress = try cursor.address(sizes)
    rootRows = try cursor.u16()
    try cursor.expectChecksum(from: 0)
    func isPowerOfTwo(_ value: Int) -> Bool { value > 0 && value & (value - 1) == 0 }
    guard isPowerOfTwo(tableWidth), tableWidth <= 1 << 16, isPowerOfTwo(startBlockSize),
      isPowerOfTwo(maxDirectSize), maxDirectSize >= startBlockSize, (1...64).contains(maxHeapBits),
      (1...64).contains(idLength), rootRows <= 64,
      rootRows <= 1 || HDF5Trees.log2(startBlockSize) + rootRows - 2 <= 61
    else {
      throw cursor.fail(
        "inconsistent doubling table (width \(tableWidth), blocks \(startBlockSize)...\(maxDirectSize))")
    }
    let log2 = HDF5Trees.log2
    maxDirectRows = log2(maxDirectSize) - log2(startBlockSize) + 2
    offsetBytes = (maxHeapBits + 7) / 8
    let managedBytes = HDF5Trees.encodedSize(maxManagedSize)
    lengthBytes = min((log2(maxDirectSize) + 7) / 8, managedBytes)
    self.address = address
    self.context = context
  }

  /// The object a heap ID names (managed or tiny).
  func object(_ id: ArraySlice<UInt8>) throws(HDF5Error) -> [UInt8] {
    var cursor = context.cursor(Array(id), what: "fractal heap ID")
    let flags = try cursor.uint8()
    guard flags >> 6 == 0 else { throw cursor.unsupported("unsupported heap ID version \(flags >> 6)") }
    switch (flags >> 4) & 0x03 {
    case 0:
      let offset = try cursor.uint(offsetBytes)
      let length = try cursor.size(lengthBytes, limit: HDF5Storage.maxMetadataBlock, "object length")
      return try managedObject(offset: offset, length: length)
    case 2:
      var length = Int(flags & 0x0F) + 1
      if idLength > 18 { length = (Int(flags & 0x0F) << 8 | Int(try cursor.uint8())) + 1 }
      return Array(try cursor.take(length))
    case 1:
      return try hugeObject(&cursor)
    default:
      throw cursor.fail("unknown heap ID type \((flags >> 4) & 0x03)")
    }
  }

  private func hugeObject(_ cursor: inout HDF5Cursor) throws(HDF5Error) -> [UInt8] {
    let sizes = context.sizes
    let what = "huge fractal heap object"
    var address: HDF5Address
    var length: Int
    if idLength >= 1 + sizes.offsets + sizes.lengths {
      // The ID holds the object's address and length.
      address = try cursor.address(sizes)
      length = try cursor.length(sizes, limit: HDF5Storage.maxMetadataBlock, "huge object length")
    } else {
      // The ID holds a key into the heap's B-tree of huge objects.
      let key = try cursor.uint(min(idLength - 1, 8))
      if hugeObjects == nil { hugeObjects = try readHugeObjects() }
      guard let found = hugeObjects?[key] else {
        throw context.storage.corrupt("fractal heap at \(self.address) has no huge object \(key)")
      }
      (address, length) = (found.address, found.length)
    }
    guard let address else { throw context.storage.corrupt("\(what) has an undefined address") }
    return try context.storage.metadata(at: address, count: length, what: what)
  }

  /// Type 1 records: address, length and key of each huge object, unfiltered.
  private func readHugeObjects() throws(HDF5Error) -> [UInt64: (address: UInt64, length: Int)] {
    guard let tree = hugeObjectTree else {
      throw context.storage.corrupt("fractal heap at \(address) has huge objects but no B-tree for them")
    }
    let sizes = context.sizes
    var result: [UInt64: (address: UInt64, length: Int)] = [:]
    for record in try HDF5Trees.btree2Records(at: tree, type: 1, context: context) {
      var cursor = context.cursor(record, what: "huge object record")
      guard let objectAddress = try cursor.address(sizes) else { throw cursor.fail("undefined address") }
      let length = try cursor.length(sizes, limit: HDF5Storage.maxMetadataBlock, "huge object length")
      let key = try cursor.uint(sizes.lengths)
      result[key] = (objectAddress, length)
    }
    return result
  }

  /// Size of the blocks in doubling-table row `row` (rows are bounded in `init`, so this fits).
  private func rowBlockSize(_ row: Int) -> Int { row <= 1 ? startBlockSize : startBlockSize << (row - 1) }

  private func managedObject(offset: UInt64, length: Int) throws(HDF5Error) -> [UInt8] {
    guard let root = rootAddress else { throw context.storage.corrupt("fractal heap at \(address) is empty") }
    var block = root
    var blockOffset: UInt64 = 0
    var blockSize = startBlockSize
    var rows = rootRows
    var depth = 0
    // Descend through indirect blocks to the direct block whose range holds `offset`.
    while rows > 0 {
      depth += 1
      guard depth <= 16 else { throw context.storage.corrupt("fractal heap at \(address) is too deep") }
      let entry = try locate(offset, inIndirectBlock: block, rows: rows, blockOffset: blockOffset)
      block = entry.address
      blockOffset = entry.offset
      blockSize = rowBlockSize(entry.row)
      if entry.row < maxDirectRows {
        rows = 0
      } else {
        rows = HDF5Trees.log2(blockSize) - HDF5Trees.log2(startBlockSize * tableWidth) + 1
        guard rows > 0 else {
          throw context.storage.corrupt("fractal heap at \(address): bad indirect block")
        }
      }
    }
    let within = offset &- blockOffset
    guard offset >= blockOffset, within < UInt64(blockSize), UInt64(length) <= UInt64(blockSize) - within
    else {
      throw context.storage.corrupt(
        "fractal heap object at offset \(offset) (\(length) bytes) lies outside its block")
    }
    let headerSize = 5 + context.sizes.offsets + offsetBytes + (checksummedDirectBlocks ? 4 : 0)
    guard within >= UInt64(headerSize) else {
      throw context.storage.corrupt("fractal heap object at offset \(offset) overlaps its block's header")
    }
    if !directBlocks.contains(block) {
      let head = try context.storage.metadata(at: block, count: headerSize, what: "fractal heap direct block")
      var cursor = context.cursor(head, what: "fractal heap direct block at \(block)")
      try cursor.expectSignature("FHDB")
      directBlocks.insert(block)
    }
    return try context.storage.metadata(at: block + within, count: length, what: "fractal heap object")
  }

  private func locate(
    _ offset: UInt64, inIndirectBlock block: UInt64, rows: Int, blockOffset: UInt64
  ) throws(HDF5Error) -> (address: UInt64, offset: UInt64, row: Int) {
    let children = try indirectBlock(block, rows: rows)
    var start = blockOffset
    for row in 0..<rows {
      let rowSize = UInt64(rowBlockSize(row))
      for column in 0..<tableWidth {
        if offset >= start, offset - start < rowSize {
          guard let child = children[row * tableWidth + column] else {
            throw context.storage.corrupt("fractal heap offset \(offset) falls in an unallocated block")
          }
          return (child, start, row)
        }
        start &+= rowSize
      }
    }
    throw context.storage.corrupt("fractal heap offset \(offset) lies beyond indirect block \(block)")
  }

  /// The child addresses of the indirect block at `block`, which has `rows` rows.
  private func indirectBlock(_ block: UInt64, rows: Int) throws(HDF5Error) -> [HDF5Address] {
    let what = "fractal heap indirect block at \(block)"
    if let known = indirectBlocks[block] {
      guard known.rows == rows else { throw context.storage.corrupt("\(what) is used with two sizes") }
      return known.children
    }
    let entries = rows * tableWidth
    let size = 5 + context.sizes.offsets + offsetBytes + entries * context.sizes.offsets + 4
    let bytes = try context.storage.metadata(at: block, count: size, what: what)
    var cursor = context.cursor(bytes, what: what)
    try cursor.expectSignature("FHIB")
    try cursor.skip(1 + context.sizes.offsets + offsetBytes)
    var children: [HDF5Address] = []
    for _ in 0..<entries { children.append(try cursor.address(context.sizes)) }
    indirectBlocks[block] = (rows, children)
    return children
  }
}

/// Global heap collections (where variable-length strings live), read once per use.
struct HDF5GlobalHeap {
  let context: HDF5Context
  private var collections: [UInt64: [Int: ArraySlice<UInt8>]] = [:]

  init(context: HDF5Context) { self.context = context }

  mutating func object(collection address: UInt64, index: Int) throws(HDF5Error) -> ArraySlice<UInt8> {
    if collections[address] == nil {
      guard collections.count < 1024 else {
        throw context.storage.failure(.limitExceeded, "too many global heap collections")
      }
      collections[address] = try Self.read(at: address, context: context)
    }
    guard let object = collections[address]?[index] else {
      throw context.storage.corrupt("global heap collection at \(address) has no object \(index)")
    }
    return object
  }

  private static func read(at address: UInt64, context: HDF5Context) throws(HDF5Error) -> [Int: ArraySlice<
    UInt8
  >] {
    let what = "global heap collection at \(address)"
    let lengths = context.sizes.lengths
    let head = try context.storage.metadata(at: address, count: 8 + lengths, what: what)
    var cursor = context.cursor(head, what: what)
    try cursor.expectSignature("GCOL")
    let version = try cursor.uint8()
    guard version == 1 else { throw cursor.unsupported("unsupported version \(version)") }
    try cursor.skip(3)
    let size = try cursor.length(context.sizes, limit: HDF5Storage.maxMetadataBlock, "collection size")
    guard size >= head.count else { throw cursor.fail("collection size \(size)") }
    let bytes = try context.storage.metadata(at: address, count: size, what: what)
    var reader = context.cursor(bytes, at: head.count, what: what)
    var objects: [Int: ArraySlice<UInt8>] = [:]
    while reader.remaining >= 8 + lengths {
      let index = try reader.u16()
      try reader.skip(6)  // reference count, reserved
      let objectSize = try reader.length(context.sizes, limit: size, "object size")
      if index == 0 { break }  // free space: the rest of the collection
      objects[index] = try reader.take(objectSize)
      try reader.skip(min((8 - objectSize % 8) % 8, reader.remaining))
    }
    return objects
  }
}
