import Foundation

/// The tensors of a `torch.save` checkpoint, read without Python: the ZIP format of PyTorch >= 1.6
/// and the legacy stream format before it.
///
/// The archive holds `<stem>/data.pkl` (the pickled object), `<stem>/data/<key>` (one raw storage per
/// key) and `<stem>/byteorder` (absent in older files: little-endian). Opening validates the archive,
/// decodes the pickle with `Unpickler` (which executes nothing), finds the state_dict (plain, or
/// inside a checkpoint dict: see `stateDict(in:path:entry:key:)`) and checks that every storage it
/// names exists with the size the pickle gives. Tensors are read one at a time, converted to Float,
/// honouring offset and strides.
struct PthTensorSource: TensorSource {
  let path: String
  /// Keys followed to reach the state_dict, e.g. `["state_dict"]`; empty for a plain one.
  let wrappers: [String]
  private let store: Store
  private let names: [String]
  private let tensors: [String: PthTensor]
  private let bigEndian: Bool

  /// Where the storages' bytes are.
  private enum Store {
    /// `<stem>/data/<key>` entries of a ZIP archive.
    case archive(ZipArchive, stem: String)
    /// The legacy stream: each storage's first element at a byte offset of the file.
    case stream(RandomAccessFile, offsets: [String: Int])
  }

  /// Largest `data.pkl` accepted, in bytes.
  static let maxPickleByteCount = 64 << 20

  init(path: String, stateDictKey: String? = nil) throws(FormatError) {
    self.path = path
    let archive = try ZipArchive(path: path)
    let pickles = archive.entries.filter {
      let parts = $0.name.split(separator: "/", omittingEmptySubsequences: false)
      return parts.count == 2 && parts[1] == "data.pkl" && !parts[0].isEmpty
    }
    guard let pickle = pickles.first else {
      throw FormatError(
        .wrongFormat, path: path,
        detail: "a ZIP archive without '<name>/data.pkl': not a checkpoint written by torch.save")
    }
    guard pickles.count == 1 else {
      throw FormatError(
        .corrupt, path: path,
        detail: "the archive holds \(pickles.count) data.pkl files; expected the one torch.save writes")
    }
    let stem = String(pickle.name.dropLast("/data.pkl".count))
    store = .archive(archive, stem: stem)
    bigEndian = try Self.readByteOrder(archive, stem: stem, path: path)
    let bytes = try archive.contents(of: pickle, maxByteCount: Self.maxPickleByteCount)
    let graph = try Unpickler.load(bytes, entry: pickle.name, path: path)
    (names, tensors, wrappers) = try Self.stateDict(
      in: graph, path: path, entry: pickle.name, key: stateDictKey)
    for name in names {
      guard let storage = tensors[name]?.storage else { continue }
      let entryName = "\(stem)/data/\(storage.key)"
      guard let entry = archive.entry(named: entryName) else {
        throw FormatError(
          .corrupt, path: path,
          detail: "tensor '\(name)' needs storage '\(storage.key)', but there is no entry '\(entryName)'",
          tensor: name)
      }
      let (byteCount, overflow) = storage.count.multipliedReportingOverflow(by: storage.type.byteCount)
      guard !overflow, entry.byteCount == byteCount else {
        throw FormatError(
          .corrupt, path: path,
          detail:
            "entry '\(entryName)' has \(entry.byteCount) bytes, but the pickle gives \(storage.count) elements of \(storage.type.storedType) for it",
          tensor: name, offset: entry.dataOffset)
      }
    }
  }

  /// Reads the format of PyTorch < 1.6: five pickles in a row (magic number, protocol version 1001,
  /// system information, the object, the sorted storage keys), then each storage in key order as an
  /// 8-byte element count followed by its elements, in the byte order the system information gives.
  init(legacyPath path: String, stateDictKey: String? = nil) throws(FormatError) {
    self.path = path
    let file = try RandomAccessFile(path: path)
    let head = try file.bytes(at: 0, count: min(file.byteCount, Self.maxPickleByteCount))
    var position = 0
    var graphs: [PickleGraph] = []
    for part in ["magic number", "protocol version", "system information", "object", "storage keys"] {
      let (graph, end) = try Unpickler.load(
        head, from: position, entry: "legacy \(part)", path: path, atEndOfFile: head.count == file.byteCount)
      graphs.append(graph)
      position = end
    }
    func failure(
      _ reason: String, _ kind: FormatError.Kind = .corrupt, tensor: String? = nil, offset: Int? = nil
    ) -> FormatError {
      FormatError(kind, path: path, detail: reason, tensor: tensor, offset: offset)
    }
    guard case .int(1001) = graphs[1].root else {
      throw failure("legacy protocol version is not 1001; not a torch.save file", .wrongFormat)
    }
    var littleEndian = true
    if let info = graphs[2].dictionary(graphs[2].root), case .bool(let flag)? = info["little_endian"] {
      littleEndian = flag
    }
    bigEndian = !littleEndian
    let graph = graphs[3]
    (names, tensors, wrappers) = try Self.stateDict(
      in: graph, path: path, entry: "legacy object", key: stateDictKey)
    guard case .list(let keyValues)? = graphs[4].object(graphs[4].root) else {
      throw failure("the legacy storage keys are not a list")
    }
    var offsets: [String: Int] = [:]
    for value in keyValues {
      guard case .string(let key) = value, let storage = graph.storages[key] else {
        throw failure("the legacy storage keys name a storage the object does not use")
      }
      let header = try file.bytes(at: position, count: 8)
      var count: UInt64 = 0
      for (index, byte) in header.enumerated() {
        count |= UInt64(byte) << (8 * UInt64(littleEndian ? index : 7 - index))
      }
      guard count == UInt64(storage.count) else {
        throw failure(
          "legacy storage '\(key)' holds \(count) elements, but the pickle gives \(storage.count)")
      }
      let (byteCount, overflow) = storage.count.multipliedReportingOverflow(by: storage.type.byteCount)
      guard !overflow, byteCount <= file.byteCount - position - 8 else {
        throw failure(
          "legacy storage '\(key)' of \(storage.count) elements runs past the end of the file", .truncated,
          offset: position)
      }
      offsets[key] = position + 8
      position += 8 + byteCount
    }
    for name in names where offsets[tensors[name]?.storage.key ?? ""] == nil {
      throw failure("tensor '\(name)' needs a storage the file does not hold", tensor: name)
    }
    store = .stream(file, offsets: offsets)
  }

  private static func readByteOrder(_ archive: ZipArchive, stem: String, path: String) throws(FormatError)
    -> Bool
  {
    guard let entry = archive.entry(named: "\(stem)/byteorder") else { return false }
    let bytes = try archive.contents(of: entry, maxByteCount: 16)
    let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    switch text {
    case "little": return false
    case "big": return true
    default:
      throw FormatError(
        .corrupt, path: path, detail: "entry '\(entry.name)' says '\(text)', expected little or big",
        tensor: entry.name)
    }
  }

  /// Entry names preferred, in this order, when several entries hold a dict of tensors.
  static let preferredWrappers = ["model_state_dict", "state_dict", "model", "net", "module"]
  /// Key endings that make a dict of tensors look like a CapsNet's state_dict.
  static let capsNetKeyEndings = [
    "conv1.weight", "conv2.weight", "digit_capsules.weight", "digit_capsules.route_weights",
  ]

  /// The state_dict: with `key` (`a/b` for nested dicts), the dict under it; otherwise the root when
  /// it is a dict of tensors, else the one entry (up to two levels down) that is a dict of tensors
  /// with string keys. Several such entries are narrowed to those whose keys look like a CapsNet,
  /// then to the first of `preferredWrappers`; if more than one is left, the error lists them and
  /// asks for `--key`. (A tutorial checkpoint's `optimizer_state_dict` holds tensors too, but in
  /// dicts keyed by parameter number, so it is not a candidate.)
  private static func stateDict(in graph: PickleGraph, path: String, entry: String, key: String?)
    throws(FormatError) -> (names: [String], tensors: [String: PthTensor], wrappers: [String])
  {
    func failure(_ reason: String) -> FormatError {
      FormatError(.unexpectedContent, path: path, detail: "\(entry): \(reason)", tensor: entry)
    }
    func isTensorDictionary(_ value: PickleValue) -> Bool {
      guard let dictionary = graph.dictionary(value), dictionary.count > 0 else { return false }
      return zip(dictionary.keys, dictionary.values).allSatisfy { key, item in
        if case .string = key { return graph.tensor(item) != nil }
        return false
      }
    }
    /// Every dict of tensors below `value`, at most `depth` levels down, with its path.
    func candidates(_ value: PickleValue, prefix: [String], depth: Int) -> [([String], PickleValue)] {
      guard depth > 0, let dictionary = graph.dictionary(value) else { return [] }
      var found: [([String], PickleValue)] = []
      for (key, item) in zip(dictionary.keys, dictionary.values) {
        guard case .string(let name) = key else { continue }
        if isTensorDictionary(item) {
          found.append((prefix + [name], item))
        } else {
          found += candidates(item, prefix: prefix + [name], depth: depth - 1)
        }
      }
      return found
    }
    func quoted(_ paths: [[String]]) -> String {
      paths.map { "'\($0.joined(separator: "/"))'" }.joined(separator: ", ")
    }

    if let key {
      var value = graph.root
      for part in key.split(separator: "/", omittingEmptySubsequences: false).map(String.init) {
        guard let dictionary = graph.dictionary(value), let inner = dictionary[part] else {
          let found = candidates(graph.root, prefix: [], depth: 2).map(\.0)
          throw failure(
            "no entry '\(key)' (--key); dicts of tensors in the file: \(found.isEmpty ? "none" : quoted(found))"
          )
        }
        value = inner
      }
      guard isTensorDictionary(value) else {
        throw failure("entry '\(key)' (--key) is a \(graph.kind(of: value)), not a dict of tensors")
      }
      return try tensorsOf(value, in: graph, wrappers: key.split(separator: "/").map(String.init), failure)
    }
    guard let root = graph.dictionary(graph.root) else {
      throw failure("holds a \(graph.kind(of: graph.root)), not a state_dict (a dict of tensors)")
    }
    if isTensorDictionary(graph.root) { return try tensorsOf(graph.root, in: graph, wrappers: [], failure) }
    var found = candidates(graph.root, prefix: [], depth: 2)
    if found.isEmpty {
      // A dict that mixes tensors with other values: name the first entry that is not a tensor.
      if root.values.contains(where: { graph.tensor($0) != nil }) {
        return try tensorsOf(graph.root, in: graph, wrappers: [], failure)
      }
      let keys = root.keys.prefix(8).map { key in
        if case .string(let text) = key { return "'\(text)'" }
        return graph.kind(of: key)
      }
      throw failure(
        "holds a dict with keys \(keys.joined(separator: ", ")), and none of its entries is a state_dict (a dict of tensors)"
      )
    }
    if found.count > 1 {
      let capsNets = found.filter { _, value in
        graph.dictionary(value)?.keys.contains { key in
          guard case .string(let name) = key else { return false }
          return capsNetKeyEndings.contains { name.hasSuffix($0) }
        } ?? false
      }
      if !capsNets.isEmpty { found = capsNets }
    }
    if found.count > 1,
      let preferred = preferredWrappers.lazy.compactMap({ name in found.first { $0.0 == [name] } }).first
    {
      found = [preferred]
    }
    guard found.count == 1 else {
      throw failure(
        "several entries hold a dict of tensors that could be the state_dict: \(quoted(found.map(\.0))); pass --key NAME to choose one"
      )
    }
    return try tensorsOf(found[0].1, in: graph, wrappers: found[0].0, failure)
  }

  private static func tensorsOf(
    _ value: PickleValue, in graph: PickleGraph, wrappers: [String], _ failure: (String) -> FormatError
  ) throws(FormatError) -> (names: [String], tensors: [String: PthTensor], wrappers: [String]) {
    guard let dictionary = graph.dictionary(value) else {
      throw failure("holds a \(graph.kind(of: value)), not a state_dict (a dict of tensors)")
    }
    var names: [String] = []
    var tensors: [String: PthTensor] = [:]
    for (key, item) in zip(dictionary.keys, dictionary.values) {
      guard case .string(let name) = key else {
        throw failure("the state_dict has a key that is a \(graph.kind(of: key)), not a string")
      }
      guard let tensor = graph.tensor(item) else {
        throw failure("state_dict entry '\(name)' is a \(graph.kind(of: item)), not a tensor")
      }
      names.append(name)
      tensors[name] = tensor
    }
    return (names, tensors, wrappers)
  }

  // MARK: TensorSource

  func tensorNames() -> [String] { names }

  private func tensor(_ name: String) throws(FormatError) -> PthTensor {
    guard let tensor = tensors[name] else {
      throw FormatError(.unexpectedContent, path: path, detail: "no tensor '\(name)'", tensor: name)
    }
    return tensor
  }

  func tensorInfo(_ name: String) throws -> TensorInfo {
    let tensor = try tensor(name)
    return TensorInfo(shape: tensor.shape, storedType: tensor.storage.type.storedType)
  }

  func readTensor(_ name: String, maxCount: Int) throws -> Tensor {
    try read(name, maxCount: maxCount)
  }

  /// The values of tensor `name` as Float; refuses views or storages of more than `maxCount`
  /// elements before allocating.
  func read(_ name: String, maxCount: Int) throws(FormatError) -> Tensor {
    let tensor = try tensor(name)
    let count = try TensorElementCount.checked(tensor.shape, limit: maxCount, name: name, path: path)
    let storage = tensor.storage
    guard storage.count <= maxCount else {
      throw FormatError(
        .limitExceeded, path: path,
        detail:
          "tensor '\(name)' is a view of storage '\(storage.key)' of \(storage.count) elements, more than the limit of \(maxCount)",
        tensor: name)
    }
    guard count > 0 else { return Tensor(shape: tensor.shape, values: []) }
    let byteCount = storage.count * storage.type.byteCount  // overflow-checked when opening
    let raw: [UInt8]
    switch store {
    case .archive(let archive, let stem):
      guard let entry = archive.entry(named: "\(stem)/data/\(storage.key)") else {
        throw FormatError(.corrupt, path: path, detail: "no entry for storage '\(storage.key)'", tensor: name)
      }
      raw = try archive.contents(of: entry, maxByteCount: byteCount)
    case .stream(let file, let offsets):
      guard let offset = offsets[storage.key] else {
        throw FormatError(.corrupt, path: path, detail: "no data for storage '\(storage.key)'", tensor: name)
      }
      raw = try file.bytes(at: offset, count: byteCount)
    }
    var values = [Float](repeating: 0, count: count)
    let decoder = ElementDecoder(type: storage.type, bigEndian: bigEndian)
    raw.withUnsafeBytes { buffer in
      values.withUnsafeMutableBufferPointer { output in
        if tensor.isContiguous {
          decoder.decode(buffer, from: tensor.offset, count: count, into: output)
        } else {
          decoder.gather(
            buffer, offset: tensor.offset, shape: tensor.shape, strides: tensor.strides, into: output)
        }
      }
    }
    return Tensor(shape: tensor.shape, values: values)
  }

  func metadataAttributes() -> MetadataAttributes? { nil }
}

/// The element count of a shape, refused past `limit` (or on overflow) before anything is allocated.
enum TensorElementCount {
  static func checked(_ shape: [Int], limit: Int, name: String, path: String) throws(FormatError) -> Int {
    var count = 1
    for dimension in shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow, product <= limit else {
        throw FormatError(
          .limitExceeded, path: path,
          detail:
            "tensor '\(name)' of shape \(describe(shape: shape)) exceeds the limit of \(limit) elements",
          tensor: name)
      }
      count = product
    }
    return count
  }
}

/// Converts storage elements of one type and byte order to Float (exactly, except float64, which is
/// rounded to nearest as every float64-to-float32 conversion does).
struct ElementDecoder {
  let type: PthScalarType
  let bigEndian: Bool

  private func load<T: FixedWidthInteger>(_ buffer: UnsafeRawBufferPointer, _ index: Int, as: T.Type) -> T {
    let raw = buffer.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self)
    return bigEndian ? T(bigEndian: raw) : T(littleEndian: raw)
  }

  /// Element `index` of the storage.
  func element(_ buffer: UnsafeRawBufferPointer, _ index: Int) -> Float {
    switch type {
    case .float32: Float(bitPattern: load(buffer, index, as: UInt32.self))
    case .float64: Float(Double(bitPattern: load(buffer, index, as: UInt64.self)))
    case .float16: Self.float(half: load(buffer, index, as: UInt16.self))
    case .bfloat16: Float(bitPattern: UInt32(load(buffer, index, as: UInt16.self)) << 16)
    case .int64: Float(Int64(bitPattern: load(buffer, index, as: UInt64.self)))
    case .int32: Float(Int32(bitPattern: load(buffer, index, as: UInt32.self)))
    case .int16: Float(Int16(bitPattern: load(buffer, index, as: UInt16.self)))
    case .int8: Float(Int8(bitPattern: buffer[index]))
    case .uint8, .bool: Float(buffer[index])
    }
  }

  /// `count` consecutive elements starting at `start`.
  func decode(
    _ buffer: UnsafeRawBufferPointer, from start: Int, count: Int,
    into output: UnsafeMutableBufferPointer<Float>
  ) {
    if type == .float32, !bigEndian, 1.littleEndian == 1 {
      // Same bits, same order: one copy.
      UnsafeMutableRawBufferPointer(output).copyMemory(
        from: UnsafeRawBufferPointer(rebasing: buffer[(start * 4)..<((start + count) * 4)]))
      return
    }
    for k in 0..<count { output[k] = element(buffer, start + k) }
  }

  /// A strided view, in row-major order of `shape`.
  func gather(
    _ buffer: UnsafeRawBufferPointer, offset: Int, shape: [Int], strides: [Int],
    into output: UnsafeMutableBufferPointer<Float>
  ) {
    var index = [Int](repeating: 0, count: shape.count)
    var position = offset
    for k in 0..<output.count {
      output[k] = element(buffer, position)
      var axis = shape.count - 1
      while axis >= 0 {
        index[axis] += 1
        position += strides[axis]
        if index[axis] < shape[axis] { break }
        position -= strides[axis] * shape[axis]
        index[axis] = 0
        axis -= 1
      }
    }
  }

  /// IEEE binary16 to binary32, exactly (subnormals, infinities and NaN included).
  static func float(half bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = UInt32(bits & 0x3FF)
    switch exponent {
    case 0: return sign * Float(mantissa) * 0x1p-24
    case 31:
      return Float(bitPattern: UInt32(bits & 0x8000) << 16 | 0x7F80_0000 | mantissa << 13)
    default:
      return Float(bitPattern: UInt32(bits & 0x8000) << 16 | UInt32(exponent + 112) << 23 | mantissa << 13)
    }
  }
}
