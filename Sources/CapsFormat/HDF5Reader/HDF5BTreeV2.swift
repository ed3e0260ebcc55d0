/// Version-2 B-trees (dense links and attributes, chunk indexes of new-style datasets).
extension HDF5Trees {
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
    guard version == 0 else { throw cursor.unsupported("unsupported version \(version)") }
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
    guard records.count + count <= maxRecords else {
      throw cursor.failure(.limitExceeded, "more than \(maxRecords) records")
    }
    records += nodeRecords
    for (child, childCount) in children {
      try btree2Visit(
        child, depth: depth - 1, count: childCount, type: type, layout: layout, context: context,
        visited: &visited, into: &records)
    }
  }
}
