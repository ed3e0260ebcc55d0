/// The indexing structures of HDF5 files: version-1 B-trees (old-style groups and chunk indexes),
/// local heaps (old-style link names), version-2 B-trees and fractal heaps (dense links and
/// attributes of new-style objects).
///
/// Every traversal checks node types, levels and signatures, never visits a node twice and stops
/// at `maxNodes`, so a corrupt file cannot make it loop or recurse without end. Version-1 B-trees are
/// here, version-2 B-trees in HDF5BTreeV2.swift, local heaps in HDF5Heaps.swift.
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
        guard result.count < maxRecords else {
          throw reader.failure(.limitExceeded, "more than \(maxRecords) entries")
        }
        result.append((key, child))
      } else {
        try btree1Visit(
          child, type: type, keySize: keySize, level: level - 1, depth: depth + 1, context: context,
          visited: &visited, into: &result)
      }
    }
  }
}
