/// The indexing structures of HDF5 files: version-1 B-trees (old-style groups and chunk indexes),
/// local heaps (old-style link names), version-2 B-trees and fractal heaps (dense links and
/// attributes of new-style objects).
///
/// Every traversal checks node types, levels and signatures, never visits a node twice and stops
/// at `maxNodes`, so a corrupt file cannot make it loop or recurse without end.
enum HDF5Trees {
  /// floor(log2(value)) for value > 0 (block and node sizes).
  static func log2(_ value: Int) -> Int { Int.bitWidth - value.leadingZeroBitCount - 1 }

  /// Bytes needed to store `value` (libhdf5's H5VM_limit_enc_size).
  static func encodedSize(_ value: Int) -> Int { value <= 0 ? 1 : log2(value) / 8 + 1 }

  static let maxNodes = 1 << 20
  static let maxRecords = 1 << 18

  /// The (key, child address) pairs of the leaves of the version-1 B-tree at `address`, in key
  /// order. Node type 0 (group) keys are `keySize` bytes of heap offset; type 1 (chunks) keys hold
  /// the chunk's size, filter mask and offsets.
  static func btree1Leaves(
    at address: UInt64, type: UInt8, keySize: Int, context: HDF5Context
  ) throws(HDF5Error) -> [(key: [UInt8], child: UInt64)] {
    var result: [(key: [UInt8], child: UInt64)] = []
    var visited: Set<UInt64> = []
    try btree1Visit(
      address, type: type, keySize: keySize, level: nil, depth: 0, context: context, visited: &visited,
      into: &result)
    return result
  }

  private static func btree1Visit(
    _ address: UInt64, type: UInt8, keySize: Int, level expected: Int?, depth: Int, context: HDF5Context,
    visited: inout Set<UInt64>, into result: inout [(key: [UInt8], child: UInt64)]
  ) throws(HDF5Error) {
    let storage = context.storage
    let what = "B-tree node at \(address)"
    guard visited.insert(address).inserted, visited.count <= maxNodes, depth <= 64 else {
      throw storage.corrupt("\(what) is part of a cycle or the tree is too large")
    }
    let offsets = context.sizes.offsets
    let head = try storage.metadata(at: address, count: 8 + 2 * offsets, what: what)
    var cursor = context.cursor(head, what: what)
    try cursor.expectSignature("TREE")
    let nodeType = try cursor.uint8()
    let level = Int(try cursor.uint8())
    let entries = try cursor.u16()
    guard nodeType == type else { throw cursor.fail("node type \(nodeType), expected \(type)") }
    if let expected, level != expected { throw cursor.fail("level \(level), expected \(expected)") }
    let body = try storage.metadata(
      at: address + UInt64(head.count), count: entries * (keySize + offsets) + keySize, what: what)
    var reader = context.cursor(body, what: what)
    for _ in 0..<entries {
      let key = Array(try reader.take(keySize))
      guard let child = try reader.address(context.sizes) else {
        throw reader.fail("undefined child address")
      }
      if level == 0 {
        guard result.count < maxRecords else { throw reader.fail("more than \(maxRecords) entries") }
        result.append((key, child))
      } else {
        try btree1Visit(
          child, type: type, keySize: keySize, level: level - 1, depth: depth + 1, context: context,
          visited: &visited, into: &result)
      }
    }
  }

  /// The data segment of the local heap at `address` (link names of an old-style group).
  static func localHeap(at address: UInt64, context: HDF5Context) throws(HDF5Error) -> [UInt8] {
    let what = "local heap at \(address)"
    let sizes = context.sizes
    let head = try context.storage.metadata(
      at: address, count: 8 + 2 * sizes.lengths + sizes.offsets, what: what)
    var cursor = context.cursor(head, what: what)
    try cursor.expectSignature("HEAP")
    let version = try cursor.uint8()
    guard version == 0 else { throw cursor.fail("unsupported version \(version)") }
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

  // MARK: Version-2 B-trees

  /// Every record of the version-2 B-tree at `address` whose type is `type`.
  static func btree2Records(at address: UInt64, type: UInt8, context: HDF5Context) throws(HDF5Error)
    -> [[UInt8]]
  {
    let storage = context.storage
    let sizes = context.sizes
    let what = "v2 B-tree header at \(address)"
    let header = try storage.metadata(
      at: address, count: 4 + 1 + 1 + 4 + 2 + 2 + 2 + sizes.offsets + 2 + sizes.lengths + 4, what: what)
    var cursor = context.cursor(header, what: what)
    try cursor.expectSignature("BTHD")
    let version = try cursor.uint8()
    guard version == 0 else { throw cursor.fail("unsupported version \(version)") }
    let treeType = try cursor.uint8()
    guard treeType == type else { throw cursor.fail("record type \(treeType), expected \(type)") }
    let nodeSize = try cursor.size(4, limit: HDF5Storage.maxMetadataBlock, "node size")
    let recordSize = try cursor.u16()
    let depth = try cursor.u16()
    try cursor.skip(2)  // split and merge percentages
    let root = try cursor.address(sizes)
    let rootRecords = try cursor.u16()
    _ = try cursor.length(sizes, "record count")
    try cursor.expectChecksum(from: 0)
    guard recordSize > 0, depth <= 32, nodeSize > 10 + recordSize else {
      throw cursor.fail("node size \(nodeSize), record size \(recordSize), depth \(depth)")
    }
    guard let root else { return [] }
    let layout = try BTree2Layout(nodeSize: nodeSize, recordSize: recordSize, depth: depth, sizes: sizes)
    var records: [[UInt8]] = []
    var visited: Set<UInt64> = []
    try btree2Visit(
      root, depth: depth, count: rootRecords, type: type, layout: layout, context: context, visited: &visited,
      into: &records)
    return records
  }

  /// Sizes of the variable-width fields of a v2 B-tree's internal nodes, as libhdf5 derives them.
  private struct BTree2Layout {
    var recordSize: Int
    var offsets: Int
    /// Bytes of the "number of records" field of a child pointer.
    var recordCountBytes: Int
    /// Per depth: bytes of the "total records below" field (0 at depth 0 and 1's children).
    var totalCountBytes: [Int]
    /// Per depth: most records a node at that depth can hold.
    var maxRecords: [Int]

    init(nodeSize: Int, recordSize: Int, depth: Int, sizes: HDF5Sizes) throws(HDF5Error) {
      self.recordSize = recordSize
      offsets = sizes.offsets
      let leafMax = (nodeSize - 10) / recordSize
      recordCountBytes = HDF5Trees.encodedSize(leafMax)
      maxRecords = [leafMax]
      var cumulative = [leafMax]
      totalCountBytes = [0]
      for level in stride(from: 1, through: max(depth, 0), by: 1) {
        let pointer = offsets + recordCountBytes + (level > 1 ? totalCountBytes[level - 1] : 0)
        let count = max((nodeSize - (10 + pointer)) / (recordSize + pointer), 0)
        maxRecords.append(count)
        let (product, overflow) = (count + 1).multipliedReportingOverflow(by: cumulative[level - 1])
        let (sum, carry) = product.addingReportingOverflow(count)
        let total = overflow || carry ? Int.max / 2 : sum
        cumulative.append(total)
        totalCountBytes.append(HDF5Trees.encodedSize(total))
      }
    }
  }

  private static func btree2Visit(
    _ address: UInt64, depth: Int, count: Int, type: UInt8, layout: BTree2Layout, context: HDF5Context,
    visited: inout Set<UInt64>, into records: inout [[UInt8]]
  ) throws(HDF5Error) {
    let storage = context.storage
    let what = "v2 B-tree node at \(address)"
    guard visited.insert(address).inserted, visited.count <= maxNodes else {
      throw storage.corrupt("\(what) is part of a cycle or the tree is too large")
    }
    guard count <= layout.maxRecords[depth] else {
      throw storage.corrupt("\(what) claims \(count) records, more than a node holds")
    }
    let pointerSize =
      layout.offsets + layout.recordCountBytes + (depth > 1 ? layout.totalCountBytes[depth - 1] : 0)
    let size = 6 + count * layout.recordSize + (depth > 0 ? (count + 1) * pointerSize : 0) + 4
    let node = try storage.metadata(at: address, count: size, what: what)
    var cursor = context.cursor(node, what: what)
    try cursor.expectSignature(depth == 0 ? "BTLF" : "BTIN")
    try cursor.skip(1)  // version
    let nodeType = try cursor.uint8()
    guard nodeType == type else { throw cursor.fail("record type \(nodeType), expected \(type)") }
    var nodeRecords: [[UInt8]] = []
    for _ in 0..<count { nodeRecords.append(Array(try cursor.take(layout.recordSize))) }
    var children: [(UInt64, Int)] = []
    if depth > 0 {
      for _ in 0...count {
        guard let child = try cursor.address(context.sizes) else {
          throw cursor.fail("undefined child address")
        }
        let childCount = try cursor.size(layout.recordCountBytes, limit: 1 << 16, "child record count")
        if depth > 1 { try cursor.skip(layout.totalCountBytes[depth - 1]) }
        children.append((child, childCount))
      }
    }
    try cursor.expectChecksum(from: 0)
    guard records.count + count <= maxRecords else { throw cursor.fail("more than \(maxRecords) records") }
    records += nodeRecords
    for (child, childCount) in children {
      try btree2Visit(
        child, depth: depth - 1, count: childCount, type: type, layout: layout, context: context,
        visited: &visited, into: &records)
    }
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
    guard version == 0 else { throw cursor.fail("unsupported version \(version)") }
    idLength = try cursor.u16()
    let filterLength = try cursor.u16()
    guard filterLength == 0 else { throw cursor.fail("filtered fractal heaps are not supported") }
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
    guard flags >> 6 == 0 else { throw cursor.fail("unsupported heap ID version \(flags >> 6)") }
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
