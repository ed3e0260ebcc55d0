/// Decoders for the header messages the reader uses (HDF5 file format specification, section IV.A).

/// A dataset's or attribute's extent.
struct HDF5Dataspace {
  /// Empty for a scalar; `[0]` for a null dataspace (no elements).
  var shape: [Int]
  /// Maximum dimensions (equal to `shape` when the file gives none; nil entries are unlimited).
  var maxShape: [Int?]

  static let maxRank = 32

  /// The number of elements (saturating at `Int.max`, which every limit refuses).
  var elementCount: Int {
    shape.reduce(1) { count, dimension in
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      return overflow ? Int.max : product
    }
  }

  static func decode(_ body: [UInt8], context: HDF5Context) throws(HDF5Error) -> HDF5Dataspace {
    var cursor = context.cursor(body, what: "dataspace message")
    let version = try cursor.uint8()
    let rank = Int(try cursor.uint8())
    let flags = try cursor.uint8()
    guard rank <= maxRank else { throw cursor.failure(.limitExceeded, "rank \(rank), more than \(maxRank)") }
    switch version {
    case 1: try cursor.skip(5)
    case 2:
      let kind = try cursor.uint8()
      if kind == 2 { return HDF5Dataspace(shape: [0], maxShape: [0]) }
      guard kind <= 1 else { throw cursor.fail("unknown dataspace type \(kind)") }
    default: throw cursor.unsupported("unsupported version \(version)")
    }
    var shape: [Int] = []
    for _ in 0..<rank { shape.append(try cursor.length(context.sizes, "dimension")) }
    var maxShape: [Int?] = shape
    if flags & 0x01 != 0 {
      maxShape = []
      for _ in 0..<rank {
        let value = try cursor.uint(context.sizes.lengths)
        maxShape.append(
          value == UInt64.max >> (64 - 8 * UInt64(context.sizes.lengths)) ? nil : Int(clamping: value))
      }
    }
    return HDF5Dataspace(shape: shape, maxShape: maxShape)
  }
}

/// An element type, as far as CapsKit reads it.
enum HDF5Datatype: Equatable {
  /// Two's complement or unsigned integer of `size` bytes.
  case integer(size: Int, signed: Bool, bigEndian: Bool)
  /// IEEE 754 binary16, binary32 or binary64.
  case float(size: Int, bigEndian: Bool)
  /// Fixed-length string of `size` bytes (NUL- or space-padded).
  case fixedString(size: Int)
  /// Variable-length string (stored in the global heap).
  case variableString
  /// Anything else, by HDF5 class name; `size` is the element size.
  case other(String, size: Int)

  /// Bytes per element in the file; a variable-length string is a 4-byte length and a global
  /// heap ID (a collection address and a 4-byte index).
  func size(_ sizes: HDF5Sizes) -> Int {
    switch self {
    case .integer(let size, _, _), .float(let size, _), .fixedString(let size), .other(_, let size): size
    case .variableString: 8 + sizes.offsets
    }
  }

  var storedType: StoredScalarType {
    switch self {
    case .integer(let size, let signed, _): .integer(bits: size * 8, signed: signed)
    case .float(let size, _): .float(bits: size * 8)
    case .fixedString, .variableString: .other("string")
    case .other(let name, _): .other(name)
    }
  }

  private static let classNames = [
    2: "time", 4: "bitfield", 5: "opaque", 6: "compound", 7: "reference", 8: "enum", 10: "array",
  ]

  static func decode(_ body: [UInt8], context: HDF5Context) throws(HDF5Error) -> HDF5Datatype {
    var cursor = context.cursor(body, what: "datatype message")
    return try decode(&cursor, depth: 0)
  }

  static func decode(_ cursor: inout HDF5Cursor, depth: Int) throws(HDF5Error) -> HDF5Datatype {
    let classAndVersion = try cursor.uint8()
    let bits = Array(try cursor.take(3))
    let size = try cursor.size(4, limit: 1 << 20, "element size")
    let typeClass = Int(classAndVersion & 0x0F)
    let bigEndian = bits[0] & 0x01 != 0
    switch typeClass {
    case 0:
      guard [1, 2, 4, 8].contains(size) else { return .other("integer of \(size) bytes", size: size) }
      let offset = try cursor.u16()
      let precision = try cursor.u16()
      guard offset == 0, precision == size * 8 else {
        return .other("integer with \(precision) bits at offset \(offset)", size: size)
      }
      return .integer(size: size, signed: bits[0] & 0x08 != 0, bigEndian: bigEndian)
    case 1:
      // Only the IEEE layouts (sign at the top, exponent and mantissa where IEEE puts them).
      let expected: [Int: (exponentAt: Int, exponentBits: Int, mantissaBits: Int, bias: Int)] = [
        2: (10, 5, 10, 15), 4: (23, 8, 23, 127), 8: (52, 11, 52, 1023),
      ]
      let offset = try cursor.u16()
      let precision = try cursor.u16()
      let exponentAt = Int(try cursor.uint8())
      let exponentBits = Int(try cursor.uint8())
      let mantissaAt = Int(try cursor.uint8())
      let mantissaBits = Int(try cursor.uint8())
      let bias = try cursor.u32()
      guard let layout = expected[size], bits[0] & 0x40 == 0, offset == 0, precision == size * 8,
        exponentAt == layout.exponentAt, exponentBits == layout.exponentBits, mantissaAt == 0,
        mantissaBits == layout.mantissaBits, bias == layout.bias, Int(bits[1]) == size * 8 - 1
      else {
        return .other("non-IEEE float of \(size) bytes", size: size)
      }
      return .float(size: size, bigEndian: bigEndian)
    case 3:
      return .fixedString(size: size)
    case 9:
      guard bits[0] & 0x0F == 1 else { return .other("variable-length sequence", size: size) }
      guard depth == 0 else { throw cursor.unsupported("nested variable-length type") }
      _ = try decode(&cursor, depth: depth + 1)  // the base type (characters)
      return .variableString
    default:
      return .other(classNames[typeClass] ?? "class \(typeClass)", size: size)
    }
  }
}

/// Where a dataset's raw data lives (data layout message, versions 3 to 5).
enum HDF5Layout {
  case compact([UInt8])
  /// nil address: never written (reads as the fill value).
  case contiguous(address: HDF5Address, size: Int)
  case chunked(HDF5ChunkLayout)

  static func decode(_ body: [UInt8], context: HDF5Context) throws(HDF5Error) -> HDF5Layout {
    var cursor = context.cursor(body, what: "data layout message")
    let version = try cursor.uint8()
    // Version 5 (libhdf5 2.0) differs from 4 only in how chunk indexes store filtered sizes,
    // which the readers take from the index's own entry size.
    guard (3...5).contains(version) else {
      throw cursor.unsupported("unsupported data layout version \(version)")
    }
    let layoutClass = try cursor.uint8()
    switch layoutClass {
    case 0:
      let size = try cursor.u16()
      return .compact(Array(try cursor.take(size)))
    case 1:
      let address = try cursor.address(context.sizes)
      return .contiguous(address: address, size: try cursor.length(context.sizes, "contiguous size"))
    case 2:
      return .chunked(try HDF5ChunkLayout.decode(&cursor, version: version, context: context))
    case 3:
      throw cursor.unsupported("virtual datasets are not supported")
    default:
      throw cursor.fail("unknown layout class \(layoutClass)")
    }
  }
}

/// The chunk grid and the index that finds each chunk.
struct HDF5ChunkLayout {
  /// Chunk dimensions, without the trailing element-size dimension.
  var dims: [Int]
  var elementSize: Int
  /// nil when no chunk was ever written (no index allocated).
  var index: (any HDF5ChunkIndex)?

  static func decode(_ cursor: inout HDF5Cursor, version: UInt8, context: HDF5Context) throws(HDF5Error)
    -> HDF5ChunkLayout
  {
    var flags: UInt8 = 0
    if version >= 4 { flags = try cursor.uint8() }
    let dimensionality = Int(try cursor.uint8())
    guard dimensionality >= 1, dimensionality <= HDF5Dataspace.maxRank + 1 else {
      throw cursor.fail("chunk dimensionality \(dimensionality)")
    }
    var btreeAddress: HDF5Address = nil
    var dimensionBytes = 4
    if version == 3 {
      btreeAddress = try cursor.address(context.sizes)
    } else {
      dimensionBytes = Int(try cursor.uint8())
      guard (1...8).contains(dimensionBytes) else {
        throw cursor.fail("chunk dimension size \(dimensionBytes)")
      }
    }
    var all: [Int] = []
    for _ in 0..<dimensionality {
      let value = try cursor.size(dimensionBytes, limit: 1 << 32, "chunk dimension")
      guard value > 0 else { throw cursor.fail("chunk dimension 0") }
      all.append(value)
    }
    let dims = Array(all.dropLast())
    guard version >= 4 else {
      return HDF5ChunkLayout(
        dims: dims, elementSize: all.last!, index: btreeAddress.map { HDF5BTree1ChunkIndex(address: $0) })
    }
    // Version 4 and 5: the index type, its parameters, then its address.
    let type = try cursor.uint8()
    var singleFiltered: (size: Int, mask: UInt32)?
    switch type {
    case 1:
      if flags & 0x02 != 0 {
        let size = try cursor.length(context.sizes, "filtered chunk size")
        singleFiltered = (size, try cursor.uint32())
      }
    case 2: break
    case 3: try cursor.skip(1)  // page bits, repeated in the fixed array header
    case 4: try cursor.skip(5)  // extensible array parameters, repeated in its header
    case 5: try cursor.skip(6)  // v2 B-tree node size, split and merge percentages
    default: throw cursor.fail("unknown chunk index type \(type)")
    }
    let index: (any HDF5ChunkIndex)? = try cursor.address(context.sizes).map { address in
      switch type {
      case 1: HDF5SingleChunkIndex(address: address, filtered: singleFiltered)
      case 2: HDF5ImplicitChunkIndex(address: address)
      case 3: HDF5FixedArrayChunkIndex(address: address)
      case 4: HDF5ExtensibleArrayChunkIndex(address: address)
      default: HDF5BTree2ChunkIndex(address: address)
      }
    }
    return HDF5ChunkLayout(dims: dims, elementSize: all.last!, index: index)
  }
}

/// One filter of a dataset's pipeline (filter pipeline message, versions 1 and 2).
struct HDF5Filter {
  var id: Int
  var name: String
  /// Bit 0: optional (may be skipped when it fails at write time).
  var flags: Int
  var values: [UInt32]

  static let deflate = 1
  static let shuffle = 2
  static let fletcher32 = 3
  /// h5py's LZF filter (registered id 32000).
  static let lzf = 32000

  static func decodePipeline(_ body: [UInt8], context: HDF5Context) throws(HDF5Error) -> [HDF5Filter] {
    var cursor = context.cursor(body, what: "filter pipeline message")
    let version = try cursor.uint8()
    let count = Int(try cursor.uint8())
    guard version == 1 || version == 2 else { throw cursor.unsupported("unsupported version \(version)") }
    guard count <= 32 else { throw cursor.failure(.limitExceeded, "\(count) filters") }
    if version == 1 { try cursor.skip(6) }
    var filters: [HDF5Filter] = []
    for _ in 0..<count {
      let id = try cursor.u16()
      let nameLength = version == 1 || id >= 256 ? try cursor.u16() : 0
      let flags = try cursor.u16()
      let valueCount = try cursor.u16()
      let name = String(decoding: try cursor.take(nameLength).prefix { $0 != 0 }, as: UTF8.self)
      var values: [UInt32] = []
      for _ in 0..<valueCount { values.append(try cursor.uint32()) }
      if version == 1, valueCount % 2 == 1 { try cursor.skip(4) }
      filters.append(HDF5Filter(id: id, name: name, flags: flags, values: values))
    }
    return filters
  }
}

/// The fill value of a dataset (fill value message versions 1-3, or the old message), when defined.
enum HDF5FillValue {
  static func decode(_ object: HDF5Object, context: HDF5Context) throws(HDF5Error) -> [UInt8]? {
    if let message = object.first(HDF5Message.fillValue) {
      var cursor = context.cursor(message.body, what: "fill value message")
      let version = try cursor.uint8()
      switch version {
      case 1, 2:
        try cursor.skip(2)  // allocation and write times
        let defined = try cursor.uint8()
        if version == 2, defined == 0 { return nil }
        if cursor.remaining < 4 { return nil }
        let size = try cursor.u32()
        return size == 0 ? nil : Array(try cursor.take(size))
      case 3:
        let flags = try cursor.uint8()
        guard flags & 0x20 != 0 else { return nil }
        let size = try cursor.u32()
        return size == 0 ? nil : Array(try cursor.take(size))
      default:
        throw cursor.unsupported("unsupported version \(version)")
      }
    }
    if let message = object.first(HDF5Message.oldFillValue) {
      var cursor = context.cursor(message.body, what: "fill value message")
      let size = try cursor.u32()
      return size == 0 ? nil : Array(try cursor.take(size))
    }
    return nil
  }
}

/// A link of a group (link message, or a symbol table entry of an old-style group).
struct HDF5Link {
  enum Target {
    case hard(UInt64)
    /// A path, absolute or relative to the link's group, followed when resolving.
    case soft(String)
    /// A file and a path in it, which CapsKit does not follow (named in messages).
    case external(file: String, path: String)
    /// A user-defined link type.
    case other(Int)
  }
  var name: String
  var target: Target

  /// What the link is, for messages ("an external link to other.h5:/x").
  var kind: String {
    switch target {
    case .hard: "a hard link"
    case .soft(let path): "a soft link to '\(path)'"
    case .external(let file, let path): "an external link to \(file):\(path)"
    case .other(let type): "a link of user-defined type \(type)"
    }
  }

  static func decode(_ body: ArraySlice<UInt8>, context: HDF5Context) throws(HDF5Error) -> HDF5Link {
    var cursor = context.cursor(Array(body), what: "link message")
    let version = try cursor.uint8()
    guard version == 1 else { throw cursor.unsupported("unsupported version \(version)") }
    let flags = try cursor.uint8()
    var type: UInt8 = 0
    if flags & 0x08 != 0 { type = try cursor.uint8() }
    if flags & 0x04 != 0 { try cursor.skip(8) }
    if flags & 0x10 != 0 { try cursor.skip(1) }
    let nameLength = try cursor.size(1 << Int(flags & 0x03), limit: 1 << 16, "link name length")
    let name = String(decoding: try cursor.take(nameLength), as: UTF8.self)
    switch type {
    case 0:
      guard let address = try cursor.address(context.sizes) else {
        throw cursor.fail("hard link '\(name)' has no address")
      }
      return HDF5Link(name: name, target: .hard(address))
    case 1:
      let length = try cursor.u16()
      return HDF5Link(name: name, target: .soft(String(decoding: try cursor.take(length), as: UTF8.self)))
    case 64:
      // A version/flags byte, then the file name and the object path, each NUL-terminated.
      let length = try cursor.u16()
      let value = try cursor.take(length).dropFirst()
      let parts = value.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
      let file = String(decoding: parts.first ?? [], as: UTF8.self)
      let path = String(decoding: (parts.count > 1 ? parts[1] : []).prefix { $0 != 0 }, as: UTF8.self)
      return HDF5Link(name: name, target: .external(file: file, path: path))
    default:
      return HDF5Link(name: name, target: .other(Int(type)))
    }
  }
}

/// Where a new-style group keeps its links, or an object its attributes, once there are too many
/// for the header (link info and attribute info messages): a fractal heap and a v2 B-tree name index.
struct HDF5DenseStorage {
  var heapAddress: HDF5Address
  var nameIndexAddress: HDF5Address

  static func decode(_ message: HDF5Message, context: HDF5Context) throws(HDF5Error) -> HDF5DenseStorage {
    let isLinks = message.type == HDF5Message.linkInfo
    var cursor = context.cursor(message.body, what: isLinks ? "link info message" : "attribute info message")
    let version = try cursor.uint8()
    guard version == 0 else { throw cursor.unsupported("unsupported version \(version)") }
    let flags = try cursor.uint8()
    if flags & 0x01 != 0 { try cursor.skip(isLinks ? 8 : 2) }
    let heap = try cursor.address(context.sizes)
    let index = try cursor.address(context.sizes)
    return HDF5DenseStorage(heapAddress: heap, nameIndexAddress: index)
  }
}

/// An attribute (attribute message, versions 1-3): name, type, extent and raw value bytes.
struct HDF5AttributeMessage {
  var name: String
  var datatype: HDF5Datatype
  var dataspace: HDF5Dataspace
  var data: [UInt8]

  static func decode(_ body: ArraySlice<UInt8>, context: HDF5Context) throws(HDF5Error)
    -> HDF5AttributeMessage
  {
    var cursor = context.cursor(Array(body), what: "attribute message")
    let version = try cursor.uint8()
    guard (1...3).contains(version) else { throw cursor.unsupported("unsupported version \(version)") }
    let flags = try cursor.uint8()  // reserved in version 1
    let nameSize = try cursor.u16()
    let datatypeSize = try cursor.u16()
    let dataspaceSize = try cursor.u16()
    if version == 3 { try cursor.skip(1) }  // name character set
    func padded(_ size: Int) -> Int { version == 1 ? (size + 7) & ~7 : size }
    let nameBytes = try cursor.take(padded(nameSize)).prefix(nameSize)
    let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
    if version >= 2, flags & 0x02 != 0 {
      throw cursor.unsupported("attribute '\(name)' uses a shared dataspace, which is not supported")
    }
    var typeBytes = Array(try cursor.take(padded(datatypeSize)))
    if version >= 2, flags & 0x01 != 0 {
      // A committed datatype, as for datasets.
      typeBytes = try HDF5SharedMessage.resolve(typeBytes, type: HDF5Message.datatype, context: context)
    }
    var typeCursor = context.cursor(typeBytes, what: "attribute '\(name)' datatype")
    let datatype = try HDF5Datatype.decode(&typeCursor, depth: 0)
    let dataspace = try HDF5Dataspace.decode(Array(try cursor.take(padded(dataspaceSize))), context: context)
    return HDF5AttributeMessage(
      name: name, datatype: datatype, dataspace: dataspace, data: Array(cursor.bytes[cursor.position...]))
  }
}
