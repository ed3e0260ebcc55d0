/// Shape and stored type of one dataset, read without reading its values.
struct HDF5DatasetInfo: Sendable {
  var path: String
  var shape: [Int]
  var storedType: StoredScalarType
}

/// An HDF5 file opened for reading, parsed in Swift without libhdf5.
///
/// It reads what PyTorch state_dicts, Keras weight files and CapsKit model files use: superblocks
/// 0-3, object headers 1 and 2, old-style (symbol table) and new-style (compact or dense) groups,
/// contiguous, compact and chunked datasets (B-tree, single-chunk, implicit and fixed-array
/// indexes) with deflate, shuffle and fletcher32, integer and IEEE float elements of either byte
/// order, and numeric and string attributes. Anything else is refused with a one-line error.
/// Every size read from the file is bounded before it is used (see `HDF5Storage`, `HDF5Trees`).
final class HDF5File {
  let path: String
  private let context: HDF5Context
  private let rootAddress: UInt64
  /// Headers, group listings and attributes already decoded, by object address (a model is
  /// looked up key by key; this keeps that linear in the file's size).
  private let objects = Memo<HDF5Object>()
  private let groupLinks = Memo<[HDF5Link]>()
  private let linksByName = Memo<[String: HDF5Link]>()
  private let objectAttributes = Memo<[HDF5AttributeMessage]>()
  /// Links the last `datasetPaths` call did not list, each said in words ("'x' is an external
  /// link to other.h5:/y"), for messages about missing tensors.
  private(set) var unlistedLinks: [String] = []

  /// Values computed once per object address.
  private final class Memo<Value> {
    private var values: [UInt64: Value] = [:]

    func value(_ address: UInt64, _ make: () throws(HDF5Error) -> Value) throws(HDF5Error) -> Value {
      // (A cache of what the file says: the file's own bounds limit how many entries it gets.)
      if let known = values[address] { return known }
      let value = try make()
      values[address] = value
      return value
    }
  }

  /// Most links one group may have, and most datasets a listing returns.
  static let maxLinks = 100_000
  /// Most soft links followed to resolve one path, and deepest group a listing searches.
  static let maxSoftLinks = 16
  static let maxListingDepth = 8
  /// Most attributes one object may have, and most elements one attribute may have.
  static let maxAttributes = 10_000
  static let maxAttributeElements = 100_000

  private init(storage: HDF5Storage) throws(HDF5Error) {
    do {
      let superblock = try HDF5Superblock.read(storage)
      context = HDF5Context(storage: storage, sizes: superblock.sizes)
      rootAddress = superblock.rootAddress
      path = storage.path
    } catch {
      throw error.during("open as HDF5")
    }
  }

  /// Opens a file on disk; its bytes are read as needed, with positioned reads.
  static func open(path: String) throws(HDF5Error) -> HDF5File {
    try HDF5File(storage: try HDF5Storage(path: path))
  }

  /// Opens the bytes of an HDF5 file held in memory; `path` only names it in messages.
  static func open(image: [UInt8], path: String) throws(HDF5Error) -> HDF5File {
    try HDF5File(storage: HDF5Storage(image: image, path: path))
  }

  /// Runs `body`, giving its errors `operation` and `dataset` (the parsers only know what was wrong).
  private func doing<T>(
    _ operation: String, dataset: String? = nil, _ body: () throws(HDF5Error) -> T
  ) throws(HDF5Error) -> T {
    do { return try body() } catch {
      let reported = error.during(operation)
      throw dataset.map { reported.about(dataset: $0) } ?? reported
    }
  }

  // MARK: Objects and links

  private func tooManyLinks() -> HDF5Error {
    context.storage.failure(.limitExceeded, "more than the \(Self.maxLinks) entries a model file may have")
  }

  private func object(at address: UInt64) throws(HDF5Error) -> HDF5Object {
    try objects.value(address) { () throws(HDF5Error) in try HDF5Object.read(at: address, in: context) }
  }

  /// The links of a group, in name order (byte-wise, as libhdf5's name index).
  private func links(of group: HDF5Object) throws(HDF5Error) -> [HDF5Link] {
    try groupLinks.value(group.address) { () throws(HDF5Error) in try readLinks(of: group) }
  }

  private func readLinks(of group: HDF5Object) throws(HDF5Error) -> [HDF5Link] {
    var links: [HDF5Link] = []
    if let table = group.first(HDF5Message.symbolTable) {
      var cursor = context.cursor(table.body, what: "symbol table message")
      guard let btree = try cursor.address(context.sizes), let heapAddress = try cursor.address(context.sizes)
      else { throw cursor.fail("undefined B-tree or heap address") }
      let heap = try HDF5Trees.localHeap(at: heapAddress, context: context)
      let leaves = try HDF5Trees.btree1Leaves(
        at: btree, type: 0, keySize: context.sizes.lengths, context: context)
      for (_, node) in leaves {
        links += try symbolNode(at: node, heap: heap, limit: Self.maxLinks - links.count)
      }
    } else {
      // v2 B-tree records of type 5: the name's hash (4 bytes), then the heap ID.
      links = try messages(
        of: group, compact: HDF5Message.link, dense: HDF5Message.linkInfo, recordType: 5, idOffset: 4
      ) { body throws(HDF5Error) in try HDF5Link.decode(body, context: context) }
    }
    guard links.count <= Self.maxLinks else {
      throw tooManyLinks()
    }
    return links.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
  }

  /// The entries of one symbol table node (SNOD) of an old-style group.
  private func symbolNode(at address: UInt64, heap: [UInt8], limit: Int) throws(HDF5Error) -> [HDF5Link] {
    let what = "symbol table node at \(address)"
    let head = try context.storage.metadata(at: address, count: 8, what: what)
    var cursor = context.cursor(head, what: what)
    try cursor.expectSignature("SNOD")
    let version = try cursor.uint8()
    guard version == 1 else { throw cursor.unsupported("unsupported version \(version)") }
    try cursor.skip(1)
    let count = try cursor.u16()
    guard count <= limit else {
      throw tooManyLinks()
    }
    let entrySize = 2 * context.sizes.offsets + 24
    let body = try context.storage.metadata(at: address + 8, count: count * entrySize, what: what)
    var reader = context.cursor(body, what: what)
    var links: [HDF5Link] = []
    for _ in 0..<count {
      let nameOffset = try reader.uint(context.sizes.offsets)
      let objectAddress = try reader.address(context.sizes)
      let cacheType = try reader.u32()
      try reader.skip(4)  // reserved
      let scratch = try reader.take(16)
      let name = try HDF5Trees.heapString(heap, at: nameOffset, context: context)
      if cacheType == 2 {
        // A soft link: the scratch pad holds the heap offset of its target path.
        var pad = context.cursor(Array(scratch), what: what)
        let target = try HDF5Trees.heapString(heap, at: try pad.uint(4), context: context)
        links.append(HDF5Link(name: name, target: .soft(target)))
      } else if let objectAddress {
        links.append(HDF5Link(name: name, target: .hard(objectAddress)))
      } else {
        throw reader.fail("entry '\(name)' has no address")
      }
    }
    return links
  }

  /// The messages of type `compact` in an object's header, then those in the dense storage that a
  /// message of type `dense` (link info, attribute info) points at, decoded by `decode`.
  private func messages<T>(
    of object: HDF5Object, compact: Int, dense: Int, recordType: UInt8, idOffset: Int,
    matching: ((ArraySlice<UInt8>) -> Bool)? = nil, decode: (ArraySlice<UInt8>) throws(HDF5Error) -> T
  ) throws(HDF5Error) -> [T] {
    var result: [T] = []
    for message in object.all(compact) {
      guard !message.isShared else {
        throw context.storage.failure(.unsupported, "shared messages are not supported")
      }
      result.append(try decode(message.body[...]))
    }
    if let info = object.first(dense) {
      let storage = try HDF5DenseStorage.decode(info, context: context)
      for body in try denseRecords(storage, recordType: recordType, idOffset: idOffset, matching: matching) {
        result.append(try decode(body[...]))
      }
    }
    return result
  }

  /// The heap objects that a dense storage's name index points at (link or attribute messages);
  /// `idOffset` is where the heap ID starts in a record (after the name hash for links).
  private func denseRecords(
    _ dense: HDF5DenseStorage, recordType: UInt8, idOffset: Int, matching: ((ArraySlice<UInt8>) -> Bool)?
  ) throws(HDF5Error) -> [[UInt8]] {
    guard let heapAddress = dense.heapAddress, let index = dense.nameIndexAddress else { return [] }
    let heap = try HDF5FractalHeap(at: heapAddress, context: context)
    let records = try HDF5Trees.btree2Records(at: index, type: recordType, context: context)
    guard records.count <= Self.maxLinks else {
      throw tooManyLinks()
    }
    var result: [[UInt8]] = []
    for record in records where matching?(record[...]) ?? true {
      guard record.count >= idOffset + heap.idLength else {
        throw context.storage.corrupt("v2 B-tree record of \(record.count) bytes is too short")
      }
      result.append(try heap.object(record[(record.startIndex + idOffset)...].prefix(heap.idLength)))
    }
    return result
  }

  /// The links of a group by name.
  private func link(_ name: Substring, in group: HDF5Object) throws(HDF5Error) -> HDF5Link? {
    try linksByName.value(group.address) { () throws(HDF5Error) -> [String: HDF5Link] in
      var byName: [String: HDF5Link] = [:]
      for link in try links(of: group) { byName[link.name] = link }
      return byName
    }[String(name)]
  }

  /// The object at `objectPath` ("/", "", "." or "a/b"), following soft links (at most
  /// `maxSoftLinks` of them, absolute or relative to their group); nil when some link on the way
  /// is missing, dangling, external or of a user-defined type.
  private func resolve(_ objectPath: String) throws(HDF5Error) -> HDF5Object? {
    let root = try object(at: rootAddress)
    var current = root
    var pending = objectPath.split(separator: "/")[...]
    var followed = 0
    while let component = pending.popFirst() {
      guard component != "." else { continue }
      guard current.isGroup, let link = try link(component, in: current) else { return nil }
      switch link.target {
      case .hard(let address):
        current = try object(at: address)
      case .soft(let target):
        followed += 1
        guard followed <= Self.maxSoftLinks else {
          throw context.storage.corrupt(
            "'\(objectPath)' needs more than \(Self.maxSoftLinks) soft links (a cycle?)")
        }
        if target.hasPrefix("/") { current = root }
        pending = (target.split(separator: "/") + pending)[...]
      case .external, .other:
        return nil
      }
    }
    return current
  }

  private func dataset(_ name: String) throws(HDF5Error) -> HDF5Dataset {
    guard let object = try resolve(name) else {
      throw context.storage.failure(.unexpectedContent, "no dataset '\(name)'", dataset: name)
    }
    guard object.isDataset else {
      throw context.storage.failure(.unexpectedContent, "'\(name)' is not a dataset", dataset: name)
    }
    return try HDF5Dataset(object, name: name, context: context)
  }

  // MARK: Listing

  /// Paths of the datasets at the root and inside groups up to `maxDepth` levels down, in name
  /// order; soft links to datasets are listed under the link's path. Each group is searched
  /// once (hard links may form cycles); links not listed are kept in `unlistedLinks`.
  func datasetPaths(maxDepth: Int = 1) throws(HDF5Error) -> [String] {
    try doing("list group '/'") { () throws(HDF5Error) -> [String] in
      var result: [String] = []
      var visited: Set<UInt64> = [rootAddress]
      unlistedLinks = []
      try collectDatasets(
        in: try object(at: rootAddress), prefix: "", depth: 0, maxDepth: min(maxDepth, Self.maxListingDepth),
        visited: &visited, into: &result)
      return result
    }
  }

  private func collectDatasets(
    in group: HDF5Object, prefix: String, depth: Int, maxDepth: Int, visited: inout Set<UInt64>,
    into result: inout [String]
  ) throws(HDF5Error) {
    for link in try links(of: group) {
      let path = prefix + link.name
      let child: HDF5Object
      switch link.target {
      case .hard(let address):
        child = try object(at: address)
      case .soft:
        // Listed when it leads to a dataset; groups reached through soft links are not searched.
        do throws(HDF5Error) {
          guard let target = try resolve(path), target.isDataset else {
            unlistedLinks.append("'\(path)' is \(link.kind), which leads to no dataset")
            continue
          }
          child = target
        } catch {
          unlistedLinks.append("'\(path)' is \(link.kind) that cannot be resolved (\(error.detail))")
          continue
        }
      case .external, .other:
        unlistedLinks.append("'\(path)' is \(link.kind), which CapsKit does not follow")
        continue
      }
      if child.isDataset {
        guard result.count < Self.maxLinks else { throw tooManyLinks() }
        result.append(path)
      } else if child.isGroup, depth < maxDepth, case .hard(let address) = link.target,
        visited.insert(address).inserted
      {
        try collectDatasets(
          in: child, prefix: path + "/", depth: depth + 1, maxDepth: maxDepth, visited: &visited,
          into: &result)
      } else if child.isGroup, depth >= maxDepth {
        unlistedLinks.append("group '\(path)' is more than \(maxDepth) levels down and was not searched")
      }
    }
  }

  /// True when `objectPath` (e.g. `/model_weights`) names a group.
  func groupExists(_ objectPath: String) throws(HDF5Error) -> Bool {
    try doing("open group '\(objectPath)'") { () throws(HDF5Error) -> Bool in
      try resolve(objectPath)?.isGroup ?? false
    }
  }

  // MARK: Reading datasets

  /// Shape and stored type of a dataset.
  func datasetInfo(_ name: String) throws(HDF5Error) -> HDF5DatasetInfo {
    try doing("open dataset '\(name)'", dataset: name) { () throws(HDF5Error) -> HDF5DatasetInfo in
      let dataset = try dataset(name)
      return HDF5DatasetInfo(
        path: name, shape: dataset.dataspace.shape, storedType: dataset.datatype.storedType)
    }
  }

  /// Reads a whole dataset converted to `T`; refuses more than `maxCount` elements before
  /// allocating, and sizes that the stored bytes cannot plausibly hold. With `refuseNonFinite`,
  /// a float dataset whose unwritten parts would read as a NaN or infinite fill value is refused
  /// before anything is allocated, and a chunked one as soon as a decoded chunk holds such a
  /// value (its output pages are touched only as chunks arrive).
  func read<T: HDF5Element>(
    _ name: String, as: T.Type, maxCount: Int, refuseNonFinite: Bool = false
  ) throws(HDF5Error) -> (shape: [Int], values: [T]) {
    try doing("read '\(name)'", dataset: name) { () throws(HDF5Error) -> (shape: [Int], values: [T]) in
      let dataset = try dataset(name)
      let shape = dataset.dataspace.shape
      let count = try Self.elementCount(shape, limit: maxCount, name: name, path: path)
      switch dataset.datatype {
      case .integer, .float: break
      default:
        throw context.storage.failure(
          .unsupported, "'\(name)' is \(dataset.datatype.storedType), not a number", dataset: name)
      }
      return try values(of: dataset, shape: shape, count: count, refuseNonFinite: refuseNonFinite)
    }
  }

  private func values<T: HDF5Element>(
    of dataset: HDF5Dataset, shape: [Int], count: Int, refuseNonFinite: Bool
  ) throws(HDF5Error) -> (shape: [Int], values: [T]) {
    guard count > 0 else { return (shape, []) }
    let stored = try dataset.locate()
    // Deflate cannot compress better than about 1032:1, so fewer stored bytes than 1/1100 of what
    // they decode to mean a lie (chunks never written cost nothing: they read as the fill value).
    let storage = stored.byteCount
    let logicalBytes = count * dataset.elementSize
    let decodedBytes = try dataset.decodedByteCount(stored, logicalBytes: logicalBytes)
    let (scaledStorage, overflow) = storage.multipliedReportingOverflow(by: 1100)
    let unwritten = storage == 0  // never written: the fill value, which costs no storage
    if !unwritten, !overflow, scaledStorage < decodedBytes {
      throw context.storage.corrupt("it claims \(count) elements but stores only \(storage) bytes")
    }
    if refuseNonFinite, let fill = dataset.floatFillValue, !fill.isFinite,
      try dataset.hasUnwrittenParts(stored)
    {
      throw context.storage.failure(
        .invalidModel,
        "'\(dataset.name)' (\(count) elements) was never written in full and its fill value is \(fill)",
        dataset: dataset.name)
    }
    // The output is left uninitialised until read: a refused chunk costs no more than its pages.
    func read(into raw: UnsafeMutableRawBufferPointer) throws(HDF5Error) {
      try dataset.read(stored, into: raw, refuseNonFinite: refuseNonFinite)
    }
    if T.isNative(dataset.datatype) {
      return (
        shape,
        try Self.uninitialized(count) { (buffer: UnsafeMutableBufferPointer<T>) throws(HDF5Error) in
          try read(into: UnsafeMutableRawBufferPointer(buffer))
        }
      )
    }
    let raw = try Self.uninitialized(logicalBytes) {
      (buffer: UnsafeMutableBufferPointer<UInt8>) throws(HDF5Error) in
      try read(into: UnsafeMutableRawBufferPointer(buffer))
    }
    var converted = false
    let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
      converted = raw.withUnsafeBytes { HDF5Values.convert($0, type: dataset.datatype, into: buffer) }
      initialized = converted ? count : 0
    }
    guard converted else { throw context.storage.corrupt("'\(dataset.name)' is not numeric") }
    return (shape, values)
  }

  /// An array of `count` trivial values, all written by `fill` (or none kept when it throws).
  private static func uninitialized<T>(
    _ count: Int, _ fill: (UnsafeMutableBufferPointer<T>) throws(HDF5Error) -> Void
  ) throws(HDF5Error) -> [T] {
    var failure: HDF5Error?
    let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
      do throws(HDF5Error) {
        try fill(buffer)
        initialized = count
      } catch {
        failure = error
        initialized = 0
      }
    }
    if let failure { throw failure }
    return values
  }

  static func elementCount(
    _ shape: [Int], limit: Int, name: String, path: String
  ) throws(HDF5Error) -> Int {
    var count = 1
    for dimension in shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow, product <= limit else {
        throw HDF5Error(
          .limitExceeded, path: path, operation: "read '\(name)'",
          detail: "shape \(shape) exceeds the limit of \(limit) elements", dataset: name)
      }
      count = product
    }
    return count
  }

  // MARK: Attributes

  /// The attributes of an object: those in its header, then those in dense storage.
  private func attributes(of object: HDF5Object) throws(HDF5Error) -> [HDF5AttributeMessage] {
    try objectAttributes.value(object.address) { () throws(HDF5Error) in try readAttributes(of: object) }
  }

  private func readAttributes(of object: HDF5Object) throws(HDF5Error) -> [HDF5AttributeMessage] {
    // v2 B-tree records of type 8 start with the heap ID.
    let result = try messages(
      of: object, compact: HDF5Message.attribute, dense: HDF5Message.attributeInfo, recordType: 8, idOffset: 0
    ) { body throws(HDF5Error) in try HDF5AttributeMessage.decode(body, context: context) }
    guard result.count <= Self.maxAttributes else {
      throw context.storage.failure(.limitExceeded, "more than \(Self.maxAttributes) attributes")
    }
    return result
  }

  /// The attribute `name` of an object, decoding no other attribute of its dense storage: the
  /// name index's records carry the lookup3 hash of each name (their last 4 bytes), as libhdf5
  /// searches them, so a broken or huge attribute elsewhere does not stand in the way.
  private func attribute(named name: String, of object: HDF5Object) throws(HDF5Error) -> HDF5AttributeMessage?
  {
    let hash = UInt32(HDF5Checksum.lookup3(Array(name.utf8)[...]))
    func hasHash(_ record: ArraySlice<UInt8>) -> Bool {
      let stored = record.suffix(4).enumerated().reduce(UInt32(0)) {
        $0 | UInt32($1.element) << (8 * UInt32($1.offset))
      }
      return record.count >= 4 && stored == hash
    }
    let found = try messages(
      of: object, compact: HDF5Message.attribute, dense: HDF5Message.attributeInfo, recordType: 8,
      idOffset: 0, matching: hasHash,
      decode: { body throws(HDF5Error) in try HDF5AttributeMessage.decode(body, context: context) })
    return found.first { $0.name == name }
  }

  /// Names of the root group's attributes, in name order.
  func attributeNames() throws(HDF5Error) -> [String] {
    try doing("list attributes") { () throws(HDF5Error) -> [String] in
      try attributes(of: try object(at: rootAddress)).map(\.name)
        .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }
  }

  /// The value of attribute `name` of the object at `objectPath` (default: the root group), or nil
  /// when absent; at most `maxAttributeElements` elements.
  func attribute(_ name: String, of objectPath: String = ".") throws(HDF5Error) -> HDF5AttributeValue? {
    try doing("read attribute '\(name)'") { () throws(HDF5Error) -> HDF5AttributeValue? in
      guard let object = try resolve(objectPath) else {
        throw context.storage.corrupt("no object '\(objectPath)'")
      }
      guard let attribute = try attribute(named: name, of: object) else { return nil }
      return try value(of: attribute)
    }
  }

  private func value(of attribute: HDF5AttributeMessage) throws(HDF5Error) -> HDF5AttributeValue {
    let count = attribute.dataspace.elementCount
    guard count <= Self.maxAttributeElements else {
      throw context.storage.corrupt("attribute '\(attribute.name)' has \(count) elements")
    }
    let type = attribute.datatype
    guard attribute.data.count >= count * type.size(context.sizes) else {
      throw context.storage.failure(.truncated, "attribute '\(attribute.name)' is truncated")
    }
    func numbers<T: HDF5Element>(_: T.Type) -> [T] {
      var values = [T](repeating: T(hdf5Integer: 0), count: count)
      _ = attribute.data.withUnsafeBytes { raw in
        values.withUnsafeMutableBufferPointer { HDF5Values.convert(raw, type: type, into: $0) }
      }
      return values
    }
    switch type {
    case .integer: return .integers(numbers(Int64.self))
    case .float: return .doubles(numbers(Double.self))
    case .fixedString, .variableString:
      return .strings(try HDF5Values.strings(attribute.data, type: type, count: count, context: context))
    case .other: return .unsupported
    }
  }

  /// The string array attribute `name` of the object at `objectPath`, or nil when the attribute
  /// is absent. Fixed-length strings (as h5py writes NumPy `S` arrays) and variable-length ones are
  /// both read.
  func stringAttribute(_ name: String, of objectPath: String) throws(HDF5Error) -> [String]? {
    switch try attribute(name, of: objectPath) {
    case nil: return nil
    case .strings(let values)?: return values
    default:
      throw HDF5Error(
        .unexpectedContent, path: path, operation: "read attribute '\(name)' of '\(objectPath)'",
        detail: "not a string attribute"
      )
    }
  }
}
