internal import CZlib

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
        throw context.storage.failure(.corrupt, "'\(name)' has no \(what)", dataset: name)
      }
      guard !message.isShared else {
        guard type == HDF5Message.datatype else {
          throw context.storage.failure(
            .unsupported, "'\(name)' uses a shared \(what), which is not supported", dataset: name)
        }
        // A committed datatype: the dataset's header points at the type's own object.
        let body = try HDF5SharedMessage.resolve(message.body, type: type, context: context)
        return HDF5Message(type: type, flags: 0, body: body)
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
    case chunks(HDF5ChunkLayout, [HDF5ChunkRecord])

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
    case .chunked(let chunks):
      let geometry = try self.geometry(chunks)
      return .chunks(chunks, try chunks.index?.records(geometry) ?? [])
    }
  }

  /// Bytes that the stored data decodes to: the dataset's for contiguous and compact data, the
  /// written chunks' for chunked data (unwritten ones read as the fill value at no decoding cost).
  func decodedByteCount(_ stored: StoredData, logicalBytes: Int) throws(HDF5Error) -> Int {
    guard case .chunks(let chunks, let records) = stored else { return logicalBytes }
    let (product, overflow) = records.count.multipliedReportingOverflow(by: try chunkByteCount(chunks))
    return overflow ? logicalBytes : min(product, logicalBytes)
  }

  /// True when some of the dataset was never written, so that it reads (in part) as the fill value.
  func hasUnwrittenParts(_ stored: StoredData) throws(HDF5Error) -> Bool {
    switch stored {
    case .compact: return false
    case .contiguous(let address, _): return address == nil
    case .chunks(let chunks, let records):
      let geometry = try self.geometry(chunks)
      let counts = geometry.grid(maximum: false).map { $0 ?? 0 }
      let total = counts.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
      var inside = Set<[Int]>()
      for record in records where record.offsets.count == shape.count {
        let scaled = zip(record.offsets, chunks.dims).map { $0 / $1 }
        if zip(scaled, counts).allSatisfy({ $0 < $1 }) { inside.insert(scaled) }
      }
      return inside.count < total
    }
  }

  /// The fill value as a Double when the dataset holds floats (nil otherwise); 0 when the file
  /// defines none.
  var floatFillValue: Double? {
    guard case .float(let size, _) = datatype else { return nil }
    guard let fill, fill.count == size else { return 0 }
    var output = [Double](repeating: 0, count: 1)
    _ = fill.withUnsafeBytes { bytes in
      output.withUnsafeMutableBufferPointer { HDF5Values.convert(bytes, type: datatype, into: $0) }
    }
    return output[0]
  }

  // MARK: Raw data

  /// Fills `output` (exactly the element count times `elementSize` bytes) with the dataset's
  /// elements in C order, as stored (file byte order); unwritten parts get the fill value.
  /// With `refuseNonFinite`, each decoded chunk's part inside the dataset is checked as soon as
  /// it is copied, and a NaN or infinity in it ends the read before the next chunk is decoded.
  func read(
    _ stored: StoredData, into output: UnsafeMutableRawBufferPointer, refuseNonFinite: Bool = false
  ) throws(HDF5Error) {
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
      try readChunks(chunks, records, into: output, refuseNonFinite: refuseNonFinite)
    }
  }

  private func corrupt(_ detail: String) -> HDF5Error { failure(.corrupt, detail) }

  /// An error of `kind` about this dataset: "'<name>' <detail>".
  private func failure(_ kind: HDF5Error.Kind, _ detail: String) -> HDF5Error {
    context.storage.failure(kind, "'\(name)' \(detail)", dataset: name)
  }

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

  private var shape: [Int] { dataspace.shape }

  private func geometry(_ chunks: HDF5ChunkLayout) throws(HDF5Error) -> HDF5ChunkGeometry {
    HDF5ChunkGeometry(
      name: name, shape: shape, maxShape: dataspace.maxShape, chunkDims: chunks.dims,
      chunkBytes: try chunkByteCount(chunks), filtered: !filters.isEmpty, context: context)
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
      guard !overflow, product <= limit else {
        throw failure(.limitExceeded, "has chunks of \(chunks.dims), too large")
      }
      count = product
    }
    return count * elementSize
  }

  private func readChunks(
    _ chunks: HDF5ChunkLayout, _ records: [HDF5ChunkRecord], into output: UnsafeMutableRawBufferPointer,
    refuseNonFinite: Bool
  ) throws(HDF5Error) {
    let geometry = try self.geometry(chunks)
    let chunkBytes = geometry.chunkBytes
    let counts = geometry.grid(maximum: false).map { $0 ?? 0 }
    var seen = Set<[Int]>()
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
      let found = buffer.withUnsafeBytes {
        copy(chunk: $0, at: record.offsets, dims: chunks.dims, into: output, countNonFinite: refuseNonFinite)
      }
      guard found.nan == 0, found.infinite == 0 else {
        // Finite values are the model's requirement (refused here without reading further).
        throw failure(
          .invalidModel,
          "has \(found.nan) NaN and \(found.infinite) infinite values in its chunk at \(record.offsets) (not read further)"
        )
      }
    }
    let total = counts.reduce(1, *)
    if seen.count < total {
      // Some chunks were never written: they read as the fill value.
      var filler = [UInt8](repeating: 0, count: chunkBytes)
      filler.withUnsafeMutableBytes { fillAll($0) }
      for scaled in try geometry.scaledPositions(counts) {
        let offsets = geometry.offsets(scaled)
        guard !seen.contains(offsets) else { continue }
        _ = filler.withUnsafeBytes {
          copy(chunk: $0, at: offsets, dims: chunks.dims, into: output, countNonFinite: false)
        }
      }
    }
  }

  /// Reads one chunk and undoes its filters; the result is exactly `chunkBytes` long.
  private func decodeChunk(_ record: HDF5ChunkRecord, chunkBytes: Int, into buffer: inout [UInt8])
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
    case HDF5Filter.lzf:
      guard let expected else { throw corrupt("has a filter pipeline CapsKit cannot size") }
      switch HDF5LZF.decode(data, count: expected) {
      case .success(let bytes): return bytes
      case .failure(.short(let produced)):
        throw corrupt("has an lzf chunk that ends after \(produced) of \(expected) bytes")
      case .failure(.long): throw corrupt("has an lzf chunk longer than its \(expected) bytes")
      case .failure(.corrupt(let why)): throw corrupt("has a corrupt lzf chunk (\(why))")
      }
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
      throw failure(
        .unsupported,
        "is compressed with filter \(filter.id)\(known), which CapsKit does not read (it reads deflate, shuffle, fletcher32 and lzf)"
      )
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
  /// dataset into the C-order output; with `countNonFinite`, counts the NaN and infinite values
  /// copied.
  private func copy(
    chunk: UnsafeRawBufferPointer, at origin: [Int], dims: [Int], into output: UnsafeMutableRawBufferPointer,
    countNonFinite: Bool
  ) -> (nan: Int, infinite: Int) {
    let rank = shape.count
    let size = elementSize
    var found = (nan: 0, infinite: 0)
    func check(_ bytes: UnsafeRawBufferPointer) {
      guard countNonFinite else { return }
      let counts = HDF5Values.nonFiniteCounts(bytes, type: datatype)
      found.nan += counts.nan
      found.infinite += counts.infinite
    }
    if rank == 0 {
      output.copyMemory(from: UnsafeRawBufferPointer(rebasing: chunk[0..<size]))
      check(UnsafeRawBufferPointer(output))
      return found
    }
    let extent = (0..<rank).map { min(dims[$0], shape[$0] - origin[$0]) }
    guard extent.allSatisfy({ $0 > 0 }) else { return found }
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
      let destination = output.baseAddress! + target * size
      destination.copyMemory(from: chunk.baseAddress! + source * size, byteCount: run)
      check(UnsafeRawBufferPointer(start: destination, count: run))
      var axis = rank - 2
      while axis >= 0 {
        index[axis] += 1
        if index[axis] < extent[axis] { break }
        index[axis] = 0
        axis -= 1
      }
      if axis < 0 { break }
    }
    return found
  }
}
