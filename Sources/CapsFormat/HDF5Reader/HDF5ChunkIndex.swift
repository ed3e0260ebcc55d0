/// The chunk indexes of chunked datasets (HDF5 file format specification, data layout message
/// versions 3-5): one type per index, each turning the index into the list of stored chunks.
///
/// Every index is bounded the same way: at most `HDF5Trees.maxRecords` chunks, metadata read
/// through `HDF5Storage.metadata` (checked against the file and the per-file budget), checksums
/// verified, undefined addresses meaning "never written" (read as the fill value).

/// One stored chunk: where, how many bytes, which filters were skipped, and its first element.
struct HDF5ChunkRecord {
  var address: UInt64
  var size: Int
  var filterMask: UInt32
  var offsets: [Int]
}

/// What an index needs to know about its dataset: extent, chunk grid, sizes and name.
struct HDF5ChunkGeometry {
  var name: String
  var shape: [Int]
  var maxShape: [Int?]
  var chunkDims: [Int]
  /// Bytes of one decoded chunk (already bounded by the dataset).
  var chunkBytes: Int
  var filtered: Bool
  let context: HDF5Context

  func corrupt(_ detail: String) -> HDF5Error { failure(.corrupt, detail) }

  /// An error of `kind` about this dataset: "'<name>' <detail>".
  func failure(_ kind: HDF5Error.Kind, _ detail: String) -> HDF5Error {
    context.storage.failure(kind, "'\(name)' \(detail)", dataset: name)
  }

  /// Chunks per dimension over the current extent, or over the maximum one (nil for an
  /// unlimited dimension when `maximum`).
  func grid(maximum: Bool) -> [Int?] {
    shape.indices.map { axis in
      var extent = shape[axis]
      if maximum {
        guard let bound = maxShape[axis] else { return nil }
        extent = max(bound, extent)
      }
      let (whole, part) = extent.quotientAndRemainder(dividingBy: chunkDims[axis])
      return whole + (part > 0 ? 1 : 0)
    }
  }

  /// The product of `counts`, refused above `HDF5Trees.maxRecords` chunks.
  func chunkCount(_ counts: [Int]) throws(HDF5Error) -> Int {
    var total = 1
    for count in counts {
      let (product, overflow) = total.multipliedReportingOverflow(by: count)
      guard !overflow, product <= HDF5Trees.maxRecords else {
        throw failure(.limitExceeded, "has too many chunks")
      }
      total = product
    }
    return total
  }

  /// The chunk coordinates (in chunks, not elements) of every chunk of `counts`, in C order.
  func scaledPositions(_ counts: [Int]) throws(HDF5Error) -> [[Int]] {
    let total = try chunkCount(counts)
    var positions: [[Int]] = []
    positions.reserveCapacity(total)
    var index = Array(repeating: 0, count: counts.count)
    for _ in 0..<total {
      positions.append(index)
      var axis = counts.count - 1
      while axis >= 0 {
        index[axis] += 1
        if index[axis] < counts[axis] { break }
        index[axis] = 0
        axis -= 1
      }
    }
    return positions
  }

  /// Element offsets of a chunk from its chunk coordinates.
  func offsets(_ scaled: [Int]) -> [Int] { zip(scaled, chunkDims).map { $0 * $1 } }

  /// Reads one index entry: an address, then (filtered) the stored size and the filter mask.
  func entry(_ cursor: inout HDF5Cursor, entrySize: Int, offsets: [Int]) throws(HDF5Error) -> HDF5ChunkRecord?
  {
    let sizes = context.sizes
    let address = try cursor.address(sizes)
    var size = chunkBytes
    var mask: UInt32 = 0
    if filtered {
      size = try cursor.size(entrySize - sizes.offsets - 4, "chunk size")
      mask = try cursor.uint32()
    } else {
      try cursor.skip(entrySize - sizes.offsets)
    }
    return address.map { HDF5ChunkRecord(address: $0, size: size, filterMask: mask, offsets: offsets) }
  }

  /// Checks an index's entry size: an address, plus (filtered) 1-8 size bytes and a 4-byte mask.
  func checkEntrySize(_ entrySize: Int, _ cursor: HDF5Cursor) throws(HDF5Error) {
    let base = context.sizes.offsets
    let valid = filtered ? (base + 5...base + 12).contains(entrySize) : entrySize == base
    guard valid else {
      throw cursor.fail("entries of \(entrySize) bytes for \(filtered ? "filtered" : "unfiltered") chunks")
    }
  }
}

/// A chunk index: finds the stored chunks of one dataset.
protocol HDF5ChunkIndex: Sendable {
  /// The stored chunks (those never written are absent).
  func records(_ geometry: HDF5ChunkGeometry) throws(HDF5Error) -> [HDF5ChunkRecord]
}

/// Version-1 B-tree of chunks (layout message version 3, every libver before 1.10).
struct HDF5BTree1ChunkIndex: HDF5ChunkIndex {
  var address: UInt64

  func records(_ geometry: HDF5ChunkGeometry) throws(HDF5Error) -> [HDF5ChunkRecord] {
    let context = geometry.context
    let rank = geometry.shape.count
    let keySize = 8 + 8 * (rank + 1)
    let leaves = try HDF5Trees.btree1Leaves(at: address, type: 1, keySize: keySize, context: context)
    var records: [HDF5ChunkRecord] = []
    for (key, child) in leaves {
      var cursor = context.cursor(key, what: "chunk key of '\(geometry.name)'")
      let size = try cursor.size(4, "chunk size")
      let mask = try cursor.uint32()
      var offsets: [Int] = []
      for _ in 0..<rank { offsets.append(try cursor.size(8, limit: 1 << 62, "chunk offset")) }
      records.append(HDF5ChunkRecord(address: child, size: size, filterMask: mask, offsets: offsets))
    }
    return records
  }
}

/// One chunk covering the dataset; the layout message gives its filtered size and mask.
struct HDF5SingleChunkIndex: HDF5ChunkIndex {
  var address: UInt64
  var filtered: (size: Int, mask: UInt32)?

  func records(_ geometry: HDF5ChunkGeometry) throws(HDF5Error) -> [HDF5ChunkRecord] {
    [
      HDF5ChunkRecord(
        address: address, size: filtered?.size ?? geometry.chunkBytes, filterMask: filtered?.mask ?? 0,
        offsets: Array(repeating: 0, count: geometry.shape.count))
    ]
  }
}

/// Unfiltered chunks stored one after another in grid order (early allocation).
struct HDF5ImplicitChunkIndex: HDF5ChunkIndex {
  var address: UInt64

  func records(_ geometry: HDF5ChunkGeometry) throws(HDF5Error) -> [HDF5ChunkRecord] {
    guard let counts = geometry.grid(maximum: true) as? [Int] else {
      throw geometry.corrupt("has an unlimited dimension and an implicit chunk index")
    }
    var records: [HDF5ChunkRecord] = []
    for (index, scaled) in try geometry.scaledPositions(counts).enumerated() {
      let (start, overflow) = UInt64(index).multipliedReportingOverflow(by: UInt64(geometry.chunkBytes))
      guard !overflow else { throw geometry.corrupt("has too many chunks") }
      records.append(
        HDF5ChunkRecord(
          address: address &+ start, size: geometry.chunkBytes, filterMask: 0,
          offsets: geometry.offsets(scaled)))
    }
    return records
  }
}

/// A fixed array of chunk entries in grid order over the maximum extent (datasets of fixed size,
/// libver 1.10 and later); above 2^pageBits entries its data block is split into checksummed
/// pages, each present only when some entry in it was written.
struct HDF5FixedArrayChunkIndex: HDF5ChunkIndex {
  var address: UInt64

  func records(_ geometry: HDF5ChunkGeometry) throws(HDF5Error) -> [HDF5ChunkRecord] {
    let context = geometry.context
    let sizes = context.sizes
    let what = "fixed array header of '\(geometry.name)'"
    let header = try context.storage.metadata(
      at: address, count: 4 + 4 + sizes.lengths + sizes.offsets + 4, what: what)
    var cursor = context.cursor(header, what: what)
    try cursor.expectSignature("FAHD")
    try cursor.skip(1)  // version
    let client = try cursor.uint8()
    let entrySize = Int(try cursor.uint8())
    let pageBits = Int(try cursor.uint8())
    let count = try cursor.length(sizes, limit: HDF5Trees.maxRecords, "entry count")
    let dataBlock = try cursor.address(sizes)
    try cursor.expectChecksum(from: 0)
    guard client == (geometry.filtered ? 1 : 0) else { throw cursor.fail("client \(client)") }
    try geometry.checkEntrySize(entrySize, cursor)
    guard let counts = geometry.grid(maximum: true) as? [Int] else {
      throw geometry.corrupt("has an unlimited dimension and a fixed array chunk index")
    }
    let positions = try geometry.scaledPositions(counts)
    guard positions.count == count, (1...32).contains(pageBits) else {
      throw cursor.fail("\(count) entries in pages of 2^\(pageBits) for \(positions.count) chunks")
    }
    guard let dataBlock else { return [] }
    let pageSize = 1 << pageBits
    let paged = count > pageSize
    let pages = paged ? (count + pageSize - 1) / pageSize : 0
    let bitmapBytes = paged ? (pages + 7) / 8 : 0
    let blockWhat = "fixed array data block of '\(geometry.name)'"
    let prefix = 6 + sizes.offsets + bitmapBytes
    let block = try context.storage.metadata(
      at: dataBlock, count: prefix + (paged ? 0 : count * entrySize) + 4, what: blockWhat)
    var reader = context.cursor(block, what: blockWhat)
    try reader.expectSignature("FADB")
    try reader.skip(2 + sizes.offsets)
    var records: [HDF5ChunkRecord] = []
    if !paged {
      for scaled in positions {
        if let record = try geometry.entry(&reader, entrySize: entrySize, offsets: geometry.offsets(scaled)) {
          records.append(record)
        }
      }
      try reader.expectChecksum(from: 0)
      return records
    }
    let bitmap = Array(try reader.take(bitmapBytes))
    try reader.expectChecksum(from: 0)
    var pageAddress = dataBlock &+ UInt64(prefix + 4)
    for page in 0..<pages {
      let first = page * pageSize
      let entries = min(pageSize, count - first)
      let bytes = entries * entrySize + 4
      defer { pageAddress &+= UInt64(pageSize * entrySize + 4) }
      // Bit `page` of the bitmap, most significant bit first: the page was written.
      guard bitmap[page / 8] & (0x80 >> UInt8(page % 8)) != 0 else { continue }
      let pageWhat = "fixed array page \(page) of '\(geometry.name)'"
      var pageReader = context.cursor(
        try context.storage.metadata(at: pageAddress, count: bytes, what: pageWhat), what: pageWhat)
      for scaled in positions[first..<(first + entries)] {
        if let record = try geometry.entry(
          &pageReader, entrySize: entrySize, offsets: geometry.offsets(scaled))
        {
          records.append(record)
        }
      }
      try pageReader.expectChecksum(from: 0)
    }
    return records
  }
}

/// A version-2 B-tree of chunks keyed by chunk coordinates (record types 10 and 11): datasets
/// with more than one unlimited dimension, libver 1.10 and later.
struct HDF5BTree2ChunkIndex: HDF5ChunkIndex {
  var address: UInt64

  func records(_ geometry: HDF5ChunkGeometry) throws(HDF5Error) -> [HDF5ChunkRecord] {
    let context = geometry.context
    let type: UInt8 = geometry.filtered ? 11 : 10
    let rank = geometry.shape.count
    var records: [HDF5ChunkRecord] = []
    for record in try HDF5Trees.btree2Records(at: address, type: type, context: context) {
      var cursor = context.cursor(record, what: "chunk record of '\(geometry.name)'")
      let entrySize = record.count - 8 * rank
      try geometry.checkEntrySize(entrySize, cursor)
      // The entry comes first, the coordinates after it: read the coordinates first.
      cursor.position = entrySize
      var scaled: [Int] = []
      for _ in 0..<rank { scaled.append(try cursor.size(8, limit: 1 << 40, "chunk coordinate")) }
      cursor.position = 0
      guard
        let entry = try geometry.entry(
          &cursor, entrySize: entrySize, offsets: zip(scaled, geometry.chunkDims).map { $0 * $1 })
      else { continue }
      records.append(entry)
    }
    return records
  }
}

/// An extensible array of chunk entries (datasets with one unlimited dimension, libver 1.10 and
/// later): an index block holding the first entries and the first data blocks' addresses, then
/// secondary blocks of data blocks that double in size; large data blocks are paged. Entries are
/// numbered over the chunk grid with the unlimited dimension moved first.
struct HDF5ExtensibleArrayChunkIndex: HDF5ChunkIndex {
  var address: UInt64

  /// The header's parameters and what libhdf5 derives from them.
  private struct Parameters {
    var entrySize: Int
    var indexBlockEntries: Int
    var dataBlockMinEntries: Int
    var pageEntries: Int
    var blockOffsetBytes: Int
    /// Per secondary block: data blocks, entries per data block, first entry, first data block.
    var superBlocks: [(dataBlocks: Int, entries: Int, start: Int, firstDataBlock: Int)]
    /// Secondary blocks whose data blocks the index block addresses directly.
    var directSuperBlocks: Int
    var indexDataBlocks: Int
    var indexSuperBlocks: Int
  }

  func records(_ geometry: HDF5ChunkGeometry) throws(HDF5Error) -> [HDF5ChunkRecord] {
    let context = geometry.context
    let sizes = context.sizes
    let what = "extensible array header of '\(geometry.name)'"
    let header = try context.storage.metadata(
      at: address, count: 4 + 8 + 6 * sizes.lengths + sizes.offsets + 4, what: what)
    var cursor = context.cursor(header, what: what)
    try cursor.expectSignature("EAHD")
    let version = try cursor.uint8()
    guard version == 0 else { throw cursor.unsupported("unsupported version \(version)") }
    let client = try cursor.uint8()
    let entrySize = Int(try cursor.uint8())
    let maxEntryBits = Int(try cursor.uint8())
    let indexBlockEntries = Int(try cursor.uint8())
    let dataBlockMinEntries = Int(try cursor.uint8())
    let superBlockMinPointers = Int(try cursor.uint8())
    let pageBits = Int(try cursor.uint8())
    for _ in 0..<6 { _ = try cursor.length(sizes, "extensible array statistics") }
    let indexBlock = try cursor.address(sizes)
    try cursor.expectChecksum(from: 0)
    guard client == (geometry.filtered ? 1 : 0) else { throw cursor.fail("client \(client)") }
    try geometry.checkEntrySize(entrySize, cursor)
    func isPowerOfTwo(_ value: Int) -> Bool { value > 0 && value & (value - 1) == 0 }
    let log2 = HDF5Trees.log2
    guard (1...64).contains(maxEntryBits), isPowerOfTwo(dataBlockMinEntries),
      isPowerOfTwo(superBlockMinPointers),
      superBlockMinPointers >= 2, (1...32).contains(pageBits), log2(dataBlockMinEntries) < maxEntryBits,
      2 * log2(superBlockMinPointers) <= 1 + maxEntryBits - log2(dataBlockMinEntries)
    else {
      throw cursor.fail(
        "inconsistent parameters (\(maxEntryBits) bits, data blocks of \(dataBlockMinEntries), \(superBlockMinPointers) pointers, pages of 2^\(pageBits))"
      )
    }
    guard let indexBlock else { return [] }
    // Secondary block u holds 2^(u/2) data blocks of 2^((u+1)/2) * dataBlockMinEntries entries.
    let superBlockCount = 1 + maxEntryBits - log2(dataBlockMinEntries)
    var superBlocks: [(dataBlocks: Int, entries: Int, start: Int, firstDataBlock: Int)] = []
    var start = 0
    var firstDataBlock = 0
    for u in 0..<superBlockCount {
      let dataBlocks = 1 << min(u / 2, 40)
      let entries = (1 << min((u + 1) / 2, 40)) * dataBlockMinEntries
      superBlocks.append((dataBlocks, entries, start, firstDataBlock))
      let (product, overflow) = dataBlocks.multipliedReportingOverflow(by: entries)
      start = overflow ? Int.max / 2 : min(start &+ product, Int.max / 2)
      firstDataBlock += dataBlocks
    }
    let parameters = Parameters(
      entrySize: entrySize, indexBlockEntries: indexBlockEntries, dataBlockMinEntries: dataBlockMinEntries,
      pageEntries: 1 << pageBits, blockOffsetBytes: (maxEntryBits + 7) / 8, superBlocks: superBlocks,
      directSuperBlocks: 2 * log2(superBlockMinPointers), indexDataBlocks: 2 * (superBlockMinPointers - 1),
      indexSuperBlocks: superBlockCount - 2 * log2(superBlockMinPointers))
    var reader = Reader(geometry: geometry, parameters: parameters)
    try reader.readIndexBlock(at: indexBlock)
    return try reader.allRecords()
  }

  /// Walks the blocks of one array, reading each block once.
  private struct Reader {
    let geometry: HDF5ChunkGeometry
    let parameters: Parameters
    var indexEntries: [UInt8] = []
    var dataBlockAddresses: [HDF5Address] = []
    var superBlockAddresses: [HDF5Address] = []
    /// Secondary blocks read so far: data block addresses and page bitmap.
    var superBlocks: [UInt64: (dataBlocks: [HDF5Address], bitmap: [UInt8])] = [:]
    /// Entries of data blocks (or of their pages) read so far, by address.
    var entryBlocks: [UInt64: [UInt8]] = [:]

    init(geometry: HDF5ChunkGeometry, parameters: Parameters) {
      self.geometry = geometry
      self.parameters = parameters
    }

    var context: HDF5Context { geometry.context }

    mutating func readIndexBlock(at address: UInt64) throws(HDF5Error) {
      let sizes = context.sizes
      let p = parameters
      let what = "extensible array index block of '\(geometry.name)'"
      let count =
        6 + sizes.offsets + p.indexBlockEntries * p.entrySize + (p.indexDataBlocks + p.indexSuperBlocks)
        * sizes.offsets
        + 4
      var cursor = context.cursor(
        try context.storage.metadata(at: address, count: count, what: what), what: what)
      try cursor.expectSignature("EAIB")
      try cursor.skip(2 + sizes.offsets)
      indexEntries = Array(try cursor.take(p.indexBlockEntries * p.entrySize))
      for _ in 0..<p.indexDataBlocks { dataBlockAddresses.append(try cursor.address(sizes)) }
      for _ in 0..<p.indexSuperBlocks { superBlockAddresses.append(try cursor.address(sizes)) }
      try cursor.expectChecksum(from: 0)
    }

    /// The records of every chunk inside the current extent.
    mutating func allRecords() throws(HDF5Error) -> [HDF5ChunkRecord] {
      let shape = geometry.shape
      guard let unlimited = geometry.maxShape.firstIndex(where: { $0 == nil }),
        geometry.maxShape.filter({ $0 == nil }).count == 1
      else { throw geometry.corrupt("has an extensible array chunk index without one unlimited dimension") }
      let maxGrid = geometry.grid(maximum: true)
      let current = geometry.grid(maximum: false).map { $0 ?? 0 }
      // The unlimited dimension moves first; the others keep their order.
      var order = Array(0..<shape.count)
      order.remove(at: unlimited)
      order.insert(unlimited, at: 0)
      var down = Array(repeating: 1, count: shape.count)
      for position in stride(from: shape.count - 2, through: 0, by: -1) {
        let (product, overflow) = down[position + 1].multipliedReportingOverflow(
          by: maxGrid[order[position + 1]] ?? 1)
        guard !overflow else { throw geometry.corrupt("has too many chunks") }
        down[position] = product
      }
      var records: [HDF5ChunkRecord] = []
      for scaled in try geometry.scaledPositions(current) {
        var index = 0
        for (position, axis) in order.enumerated() {
          let (product, overflow) = scaled[axis].multipliedReportingOverflow(by: down[position])
          let (sum, carry) = index.addingReportingOverflow(product)
          guard !overflow, !carry else { throw geometry.corrupt("has too many chunks") }
          index = sum
        }
        if let record = try entry(index, offsets: geometry.offsets(scaled)) { records.append(record) }
      }
      return records
    }

    /// Entry `index` of the array, or nil when never written.
    mutating func entry(_ index: Int, offsets: [Int]) throws(HDF5Error) -> HDF5ChunkRecord? {
      let p = parameters
      if index < p.indexBlockEntries { return try decode(indexEntries, at: index, offsets: offsets) }
      let rest = index - p.indexBlockEntries
      let superBlock = HDF5Trees.log2(rest / p.dataBlockMinEntries + 1)
      guard superBlock < p.superBlocks.count else {
        throw geometry.corrupt("has chunk \(index), beyond its extensible array")
      }
      let info = p.superBlocks[superBlock]
      var within = rest - info.start
      let dataBlockIndex = within / info.entries
      within %= info.entries
      let pages = info.entries > p.pageEntries ? info.entries / p.pageEntries : 0
      var dataBlock: HDF5Address
      var pageWritten = true
      if superBlock < p.directSuperBlocks {
        let position = info.firstDataBlock + dataBlockIndex
        guard position < dataBlockAddresses.count else {
          throw geometry.corrupt("has a corrupt extensible array")
        }
        dataBlock = dataBlockAddresses[position]
      } else {
        let slot = superBlock - p.directSuperBlocks
        guard slot < superBlockAddresses.count else {
          throw geometry.corrupt("has a corrupt extensible array")
        }
        guard let superAddress = superBlockAddresses[slot] else { return nil }
        let block = try readSuperBlock(at: superAddress, dataBlocks: info.dataBlocks, pages: pages)
        dataBlock = block.dataBlocks[dataBlockIndex]
        if pages > 0 {
          let bit = dataBlockIndex * pages + within / p.pageEntries
          pageWritten = block.bitmap[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0
        }
      }
      guard let dataBlock, pageWritten else { return nil }
      let prefix = 6 + context.sizes.offsets + p.blockOffsetBytes
      if pages == 0 {
        let entries = try entryBlock(
          at: dataBlock, skip: prefix, count: info.entries, signature: true)
        return try decode(entries, at: within, offsets: offsets)
      }
      let page = within / p.pageEntries
      let pageBytes = p.pageEntries * p.entrySize + 4
      let (start, overflow) = UInt64(page).multipliedReportingOverflow(by: UInt64(pageBytes))
      guard !overflow else { throw geometry.corrupt("has a corrupt extensible array") }
      // A paged data block is a prefix and a checksum, then its pages.
      let pageAddress = dataBlock &+ UInt64(prefix + 4) &+ start
      let entries = try entryBlock(at: pageAddress, skip: 0, count: p.pageEntries, signature: false)
      return try decode(entries, at: within % p.pageEntries, offsets: offsets)
    }

    private func decode(_ entries: [UInt8], at index: Int, offsets: [Int]) throws(HDF5Error)
      -> HDF5ChunkRecord?
    {
      var cursor = context.cursor(
        entries, at: index * parameters.entrySize, what: "chunk entry of '\(geometry.name)'")
      return try geometry.entry(&cursor, entrySize: parameters.entrySize, offsets: offsets)
    }

    /// The entries of a data block (after a `skip`-byte prefix with signature "EADB") or of a page.
    private mutating func entryBlock(at address: UInt64, skip: Int, count: Int, signature: Bool)
      throws(HDF5Error)
      -> [UInt8]
    {
      if let known = entryBlocks[address] { return known }
      let what = "extensible array data block of '\(geometry.name)'"
      let size = skip + count * parameters.entrySize + 4
      let bytes = try context.storage.metadata(at: address, count: size, what: what)
      var cursor = context.cursor(bytes, what: what)
      if signature { try cursor.expectSignature("EADB") }
      cursor.position = size - 4
      try cursor.expectChecksum(from: 0)
      let entries = Array(bytes[skip..<(size - 4)])
      entryBlocks[address] = entries
      return entries
    }

    private mutating func readSuperBlock(at address: UInt64, dataBlocks: Int, pages: Int) throws(HDF5Error)
      -> (dataBlocks: [HDF5Address], bitmap: [UInt8])
    {
      if let known = superBlocks[address] { return known }
      let sizes = context.sizes
      let what = "extensible array secondary block of '\(geometry.name)'"
      let bitmapBytes = pages > 0 ? dataBlocks * ((pages + 7) / 8) : 0
      let (addressBytes, overflow) = dataBlocks.multipliedReportingOverflow(by: sizes.offsets)
      guard !overflow, addressBytes <= HDF5Storage.maxMetadataBlock else {
        throw geometry.corrupt("has an extensible array secondary block of \(dataBlocks) data blocks")
      }
      let size = 6 + sizes.offsets + parameters.blockOffsetBytes + bitmapBytes + addressBytes + 4
      var cursor = context.cursor(
        try context.storage.metadata(at: address, count: size, what: what), what: what)
      try cursor.expectSignature("EASB")
      try cursor.skip(2 + sizes.offsets + parameters.blockOffsetBytes)
      let bitmap = Array(try cursor.take(bitmapBytes))
      var addresses: [HDF5Address] = []
      for _ in 0..<dataBlocks { addresses.append(try cursor.address(sizes)) }
      try cursor.expectChecksum(from: 0)
      superBlocks[address] = (addresses, bitmap)
      return (addresses, bitmap)
    }
  }
}
