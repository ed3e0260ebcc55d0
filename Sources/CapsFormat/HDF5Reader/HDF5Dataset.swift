import CZlib

/// A dataset's header, decoded: extent, element type, layout, filters and fill value; and the
/// reading of its raw bytes (contiguous, compact or chunked, with deflate, shuffle and fletcher32).
struct HDF5Dataset {
  let name: String
  let dataspace: HDF5Dataspace
  let datatype: HDF5Datatype
  let layout: HDF5Layout
  let filters: [HDF5Filter]
  let fill: [UInt8]?
  private let context: HDF5Context

  init(_ object: HDF5Object, name: String, context: HDF5Context) throws(HDF5Error) {
    func required(_ type: Int, _ what: String) throws(HDF5Error) -> HDF5Message {
      guard let message = object.first(type) else {
        throw context.storage.corrupt("'\(name)' has no \(what)")
      }
      guard !message.isShared else {
        throw context.storage.corrupt("'\(name)' uses a shared (committed) \(what), which is not supported")
      }
      return message
    }
    self.name = name
    self.context = context
    dataspace = try HDF5Dataspace.decode(
      try required(HDF5Message.dataspace, "dataspace").body, context: context)
    datatype = try HDF5Datatype.decode(try required(HDF5Message.datatype, "datatype").body, context: context)
    layout = try HDF5Layout.decode(try required(HDF5Message.layout, "data layout").body, context: context)
    filters =
      try object.first(HDF5Message.filterPipeline).map { message throws(HDF5Error) in
        try HDF5Filter.decodePipeline(message.body, context: context)
      } ?? []
    fill = try HDF5FillValue.decode(object, context: context)
  }

  /// Bytes of one element in the file.
  var elementSize: Int { datatype.size(context.sizes) }

  /// Where the data is: the layout, with the chunk index already walked for chunked data.
  enum StoredData {
    case compact([UInt8])
    case contiguous(address: HDF5Address, size: Int)
    case chunks(HDF5ChunkLayout, [ChunkRecord])

    /// Bytes the data occupies in the file (after compression).
    var byteCount: Int {
      switch self {
      case .compact(let bytes): bytes.count
      case .contiguous(let address, let size): address == nil ? 0 : size
      case .chunks(_, let records): records.reduce(0) { $0 &+ $1.size }
      }
    }
  }

  /// Locates the data (for chunked data, reads the chunk index once).
  func locate() throws(HDF5Error) -> StoredData {
    switch layout {
    case .compact(let bytes): return .compact(bytes)
    case .contiguous(let address, let size): return .contiguous(address: address, size: size)
    case .chunked(let chunks): return .chunks(chunks, try chunkRecords(chunks))
    }
  }

  // MARK: Raw data

  /// Fills `output` (exactly the element count times `elementSize` bytes) with the dataset's
  /// elements in C order, as stored (file byte order); unwritten parts get the fill value.
  func read(_ stored: StoredData, into output: UnsafeMutableRawBufferPointer) throws(HDF5Error) {
    let byteCount = output.count
    switch stored {
    case .compact(let bytes):
      guard bytes.count >= byteCount else {
        throw corrupt("compact data has \(bytes.count) bytes for \(byteCount)")
      }
      bytes.withUnsafeBytes { output.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<byteCount])) }
    case .contiguous(let address, let size):
      guard let address else { return fillAll(output) }
      guard size >= byteCount else { throw corrupt("stores \(size) bytes for \(byteCount)") }
      try context.storage.read(at: address, into: output, what: "data of '\(name)'")
    case .chunks(let chunks, let records):
      try readChunks(chunks, records, into: output)
    }
  }

  private func corrupt(_ detail: String) -> HDF5Error { context.storage.corrupt("'\(name)' \(detail)") }

  private func fillAll(_ output: UnsafeMutableRawBufferPointer) {
    guard let fill, fill.count == elementSize, fill.contains(where: { $0 != 0 }) else {
      output.initializeMemory(as: UInt8.self, repeating: 0)
      return
    }
    var position = 0
    while position < output.count {
      for byte in fill where position < output.count {
        output[position] = byte
        position += 1
      }
    }
  }

  // MARK: Chunks

  /// One stored chunk: where, how many bytes, which filters were skipped, and its first element.
  struct ChunkRecord {
    var address: UInt64
    var size: Int
    var filterMask: UInt32
    var offsets: [Int]
  }

  private var shape: [Int] { dataspace.shape }

  /// Chunks per dimension over the maximum extent (how fixed arrays and implicit indexes number them).
  private func grid(_ chunks: HDF5ChunkLayout, maximum: Bool) throws(HDF5Error) -> [Int] {
    var result: [Int] = []
    for (axis, dimension) in shape.enumerated() {
      var extent = dimension
      if maximum {
        guard let bound = dataspace.maxShape[axis] else { throw corrupt("has an unlimited dimension") }
        extent = max(bound, dimension)
      }
      let (whole, part) = extent.quotientAndRemainder(dividingBy: chunks.dims[axis])
      result.append(whole + (part > 0 ? 1 : 0))
    }
    return result
  }

  private func chunkByteCount(_ chunks: HDF5ChunkLayout) throws(HDF5Error) -> Int {
    guard chunks.dims.count == shape.count, chunks.elementSize == elementSize else {
      throw corrupt(
        "has chunks of rank \(chunks.dims.count) and element size \(chunks.elementSize) for rank \(shape.count) and element size \(elementSize)"
      )
    }
    let total = dataspace.elementCount
    // A chunk may exceed a small dataset, but not by enough to allocate without bound.
    let limit = max(total, 1 << 20)
    var count = 1
    for dimension in chunks.dims {
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow, product <= limit else { throw corrupt("has chunks of \(chunks.dims), too large") }
      count = product
    }
    return count * elementSize
  }

  private func chunkRecords(_ chunks: HDF5ChunkLayout) throws(HDF5Error) -> [ChunkRecord] {
    let chunkBytes = try chunkByteCount(chunks)
    guard let address = chunks.address else { return [] }
    let rank = shape.count
    switch chunks.index {
    case .btree1:
      let keySize = 8 + 8 * (rank + 1)
      let leaves = try HDF5Trees.btree1Leaves(at: address, type: 1, keySize: keySize, context: context)
      var records: [ChunkRecord] = []
      for (key, child) in leaves {
        var cursor = context.cursor(key, what: "chunk key of '\(name)'")
        let size = try cursor.size(4, "chunk size")
        let mask = try cursor.uint32()
        var offsets: [Int] = []
        for _ in 0..<rank { offsets.append(try cursor.size(8, limit: 1 << 62, "chunk offset")) }
        records.append(ChunkRecord(address: child, size: size, filterMask: mask, offsets: offsets))
      }
      return records
    case .single(let filtered):
      return [
        ChunkRecord(
          address: address, size: filtered?.size ?? chunkBytes, filterMask: filtered?.mask ?? 0,
          offsets: Array(repeating: 0, count: rank))
      ]
    case .implicit:
      var records: [ChunkRecord] = []
      for (index, offsets) in try chunkPositions(chunks).enumerated() {
        let (start, overflow) = UInt64(index).multipliedReportingOverflow(by: UInt64(chunkBytes))
        guard !overflow else { throw corrupt("has too many chunks") }
        records.append(
          ChunkRecord(address: address &+ start, size: chunkBytes, filterMask: 0, offsets: offsets))
      }
      return records
    case .fixedArray:
      return try fixedArrayRecords(chunks, at: address, chunkBytes: chunkBytes)
    case .unsupported(let what):
      throw corrupt("uses an \(what), which CapsKit does not read")
    }
  }

  /// The first element of every chunk in grid order (C order over the maximum extent, or the
  /// current one).
  private func chunkPositions(_ chunks: HDF5ChunkLayout, maximum: Bool = true) throws(HDF5Error) -> [[Int]] {
    let counts = try grid(chunks, maximum: maximum)
    var total = 1
    for count in counts {
      let (product, overflow) = total.multipliedReportingOverflow(by: count)
      guard !overflow, product <= HDF5Trees.maxRecords else { throw corrupt("has too many chunks") }
      total = product
    }
    var positions: [[Int]] = []
    positions.reserveCapacity(total)
    var index = Array(repeating: 0, count: counts.count)
    for _ in 0..<total {
      positions.append(zip(index, chunks.dims).map { $0 * $1 })
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

  private func fixedArrayRecords(
    _ chunks: HDF5ChunkLayout, at address: UInt64, chunkBytes: Int
  ) throws(HDF5Error) -> [ChunkRecord] {
    let sizes = context.sizes
    let what = "fixed array header of '\(name)'"
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
    let filtered = client == 1
    let positions = try chunkPositions(chunks)
    guard positions.count == count, entrySize >= sizes.offsets + (filtered ? 5 : 0), entrySize <= 32 else {
      throw cursor.fail("\(count) entries of \(entrySize) bytes for \(positions.count) chunks")
    }
    guard pageBits >= 64 || count <= 1 << pageBits else {
      throw cursor.fail("paged fixed arrays are not supported")
    }
    guard let dataBlock else { return [] }
    let blockWhat = "fixed array data block of '\(name)'"
    let prefix = 6 + sizes.offsets
    let block = try context.storage.metadata(
      at: dataBlock, count: prefix + count * entrySize + 4, what: blockWhat)
    var reader = context.cursor(block, what: blockWhat)
    try reader.expectSignature("FADB")
    try reader.skip(2 + sizes.offsets)
    var records: [ChunkRecord] = []
    for offsets in positions {
      let chunkAddress = try reader.address(sizes)
      var size = chunkBytes
      var mask: UInt32 = 0
      if filtered {
        size = try reader.size(entrySize - sizes.offsets - 4, "chunk size")
        mask = try reader.uint32()
      } else {
        try reader.skip(entrySize - sizes.offsets)
      }
      if let chunkAddress {
        records.append(ChunkRecord(address: chunkAddress, size: size, filterMask: mask, offsets: offsets))
      }
    }
    try reader.expectChecksum(from: 0)
    return records
  }

  private func readChunks(
    _ chunks: HDF5ChunkLayout, _ records: [ChunkRecord], into output: UnsafeMutableRawBufferPointer
  ) throws(HDF5Error) {
    let chunkBytes = try chunkByteCount(chunks)
    let counts = try grid(chunks, maximum: false)
    var seen = Set<[Int]>()
    var covered = 0
    var buffer = [UInt8](repeating: 0, count: chunkBytes)
    // Chunks may overhang the dataset's edges, but not so far that decoding them costs much more
    // than the data: at most 16 times the dataset plus 16 MiB decoded in all.
    let decodeLimit = output.count.multipliedReportingOverflow(by: 16).partialValue &+ (16 << 20)
    var decoded = 0
    for record in records {
      guard record.offsets.count == shape.count else { throw corrupt("has a chunk of the wrong rank") }
      var inside = true
      for axis in 0..<shape.count {
        guard record.offsets[axis] % chunks.dims[axis] == 0 else {
          throw corrupt("has a chunk at \(record.offsets), not on the chunk grid")
        }
        if record.offsets[axis] / chunks.dims[axis] >= counts[axis] { inside = false }
      }
      // Chunks beyond the current extent (a shrunk dataset) are ignored, as libhdf5 does.
      guard inside else { continue }
      guard seen.insert(record.offsets).inserted else { throw corrupt("has two chunks at \(record.offsets)") }
      decoded += chunkBytes
      guard decoded <= decodeLimit, decoded > 0 else {
        throw corrupt(
          "has chunks of \(chunks.dims) that would decode to far more than its \(output.count) bytes")
      }
      try decodeChunk(record, chunkBytes: chunkBytes, into: &buffer)
      buffer.withUnsafeBytes { copy(chunk: $0, at: record.offsets, dims: chunks.dims, into: output) }
      covered += 1
    }
    let total = counts.reduce(1, *)
    if covered < total {
      // Some chunks were never written: they read as the fill value.
      var filler = [UInt8](repeating: 0, count: chunkBytes)
      filler.withUnsafeMutableBytes { fillAll($0) }
      for offsets in try chunkPositions(chunks, maximum: false) where !seen.contains(offsets) {
        filler.withUnsafeBytes { copy(chunk: $0, at: offsets, dims: chunks.dims, into: output) }
      }
    }
  }

  /// Reads one chunk and undoes its filters; the result is exactly `chunkBytes` long.
  private func decodeChunk(_ record: ChunkRecord, chunkBytes: Int, into buffer: inout [UInt8])
    throws(HDF5Error)
  {
    let active = filters.enumerated().filter { record.filterMask & (1 << UInt32($0.offset)) == 0 }.map(
      \.element)
    if active.isEmpty {
      guard record.size == chunkBytes else {
        throw corrupt("has an unfiltered chunk of \(record.size) bytes, expected \(chunkBytes)")
      }
      try buffer.withHDF5Bytes { (raw) throws(HDF5Error) in
        try context.storage.read(at: record.address, into: raw, what: "chunk of '\(name)'")
      }
      return
    }
    guard record.size <= 2 * chunkBytes + 4096 else {
      throw corrupt("has a chunk of \(record.size) stored bytes for \(chunkBytes)")
    }
    // The size entering each filter when the file was written, as far as it can be known.
    var sizes: [Int?] = [chunkBytes]
    for filter in active {
      switch filter.id {
      case HDF5Filter.shuffle: sizes.append(sizes.last!)
      case HDF5Filter.fletcher32: sizes.append(sizes.last!.map { $0 + 4 })
      default: sizes.append(nil)
      }
    }
    var data = try context.storage.data(
      at: record.address, count: record.size, what: "chunk of '\(name)'")
    for (position, filter) in active.enumerated().reversed() {
      data = try undo(filter, data, expected: sizes[position])
    }
    guard data.count == chunkBytes else {
      throw corrupt("has a chunk that decodes to \(data.count) bytes, expected \(chunkBytes)")
    }
    buffer = data
  }

  private static let filterNames = [
    4: "szip", 5: "nbit", 6: "scaleoffset", 307: "bzip2", 32000: "lzf", 32001: "blosc", 32004: "lz4",
    32008: "bitshuffle", 32013: "zfp", 32015: "zstd",
  ]

  private func undo(_ filter: HDF5Filter, _ data: [UInt8], expected: Int?) throws(HDF5Error) -> [UInt8] {
    switch filter.id {
    case HDF5Filter.deflate:
      guard let expected else { throw corrupt("has a filter pipeline CapsKit cannot size") }
      return try inflate(data, count: expected)
    case HDF5Filter.shuffle:
      let size = filter.values.first.map(Int.init) ?? elementSize
      return Self.unshuffle(data, elementSize: size)
    case HDF5Filter.fletcher32:
      guard data.count >= 4 else { throw corrupt("has a chunk too short for its checksum") }
      let body = data.count - 4
      let stored = data[body...].enumerated().reduce(UInt32(0)) {
        $0 | UInt32($1.element) << (8 * UInt32($1.offset))
      }
      let computed = data.withUnsafeBytes {
        HDF5Checksum.fletcher32(UnsafeRawBufferPointer(rebasing: $0[0..<body]))
      }
      // Files from before HDF5 1.6.3 stored the sum byte-swapped; libhdf5 accepts both.
      guard stored == computed || stored == computed.byteSwapped else {
        throw corrupt("has a chunk whose fletcher32 checksum does not match")
      }
      return Array(data[0..<body])
    default:
      let known =
        Self.filterNames[filter.id].map { " (\($0))" } ?? (filter.name.isEmpty ? "" : " (\(filter.name))")
      throw corrupt("is compressed with filter \(filter.id)\(known), which CapsKit does not read")
    }
  }

  private func inflate(_ data: [UInt8], count: Int) throws(HDF5Error) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: count)
    var produced = 0
    let status = data.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { out in
        capskit_inflate_exact(input.baseAddress, input.count, out.baseAddress, out.count, &produced)
      }
    }
    switch Int(status) {
    case Int(CAPSKIT_INFLATE_OK.rawValue): return output
    case Int(CAPSKIT_INFLATE_SHORT.rawValue):
      throw corrupt("has a deflated chunk that ends after \(produced) of \(count) bytes")
    case Int(CAPSKIT_INFLATE_LONG.rawValue):
      throw corrupt("has a deflated chunk longer than its \(count) bytes")
    default:
      throw corrupt("has a corrupt deflated chunk")
    }
  }

  static func unshuffle(_ data: [UInt8], elementSize: Int) -> [UInt8] {
    guard elementSize > 1, data.count >= elementSize else { return data }
    let count = data.count / elementSize
    var result = data
    for byte in 0..<elementSize {
      for element in 0..<count { result[element * elementSize + byte] = data[byte * count + element] }
    }
    return result
  }

  /// Copies the part of a chunk (of `dims`, first element at `origin`) that lies inside the
  /// dataset into the C-order output.
  private func copy(
    chunk: UnsafeRawBufferPointer, at origin: [Int], dims: [Int], into output: UnsafeMutableRawBufferPointer
  ) {
    let rank = shape.count
    let size = elementSize
    if rank == 0 {
      output.copyMemory(from: UnsafeRawBufferPointer(rebasing: chunk[0..<size]))
      return
    }
    let extent = (0..<rank).map { min(dims[$0], shape[$0] - origin[$0]) }
    guard extent.allSatisfy({ $0 > 0 }) else { return }
    var outputStrides = Array(repeating: 1, count: rank)
    var chunkStrides = Array(repeating: 1, count: rank)
    for axis in stride(from: rank - 2, through: 0, by: -1) {
      outputStrides[axis] = outputStrides[axis + 1] * shape[axis + 1]
      chunkStrides[axis] = chunkStrides[axis + 1] * dims[axis + 1]
    }
    let run = extent[rank - 1] * size
    var index = Array(repeating: 0, count: rank)
    while true {
      var source = 0
      var target = 0
      for axis in 0..<rank {
        source += index[axis] * chunkStrides[axis]
        target += (origin[axis] + index[axis]) * outputStrides[axis]
      }
      (output.baseAddress! + target * size).copyMemory(
        from: chunk.baseAddress! + source * size, byteCount: run)
      var axis = rank - 2
      while axis >= 0 {
        index[axis] += 1
        if index[axis] < extent[axis] { break }
        index[axis] = 0
        axis -= 1
      }
      if axis < 0 { break }
    }
  }
}
