/// A value decoded by `Unpickler`. Containers live in the unpickler's object table and are referred to
/// by index, so values never nest: no recursive destruction, and reference cycles are harmless.
enum PickleValue: Sendable {
  case none
  case bool(Bool)
  case int(Int)
  /// An integer that does not fit in 64 bits; kept only to be refused where a size is expected.
  case bigInteger
  case float(Double)
  case string(String)
  case bytes([UInt8])
  /// Index into `PickleGraph.objects`.
  case object(Int)
}

/// Containers and the few torch objects a state_dict holds.
enum PickleObject: Sendable {
  case tuple([PickleValue])
  /// Lists, sets and frozensets.
  case list([PickleValue])
  /// Dicts and `collections.OrderedDict`, in insertion order.
  case dict(PickleDictionary)
  /// A global from the allow-list; never called, only interpreted.
  case global(PickleGlobal)
  case storage(PthStorage)
  case tensor(PthTensor)
}

/// The globals a state_dict pickle may name. Each is interpreted by the unpickler (building a dict,
/// recording a tensor view, naming a storage type); none is ever looked up or executed.
enum PickleGlobal: Sendable, Equatable {
  case orderedDict
  case rebuildTensorV2
  case rebuildTensor
  case rebuildParameter
  case storageType(PthScalarType)
  /// `_codecs.encode(text, "latin1")`, how protocol 2 spells Python 3 `bytes`.
  case codecsEncode

  /// Resolves `module.name`, or nil when it is not allowed.
  init?(module: String, name: String) {
    switch (module, name) {
    case ("collections", "OrderedDict"): self = .orderedDict
    case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
    case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
    case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
    case ("_codecs", "encode"): self = .codecsEncode
    case ("torch", _):
      guard let type = PthScalarType(storageName: name) else { return nil }
      self = .storageType(type)
    default: return nil
    }
  }

  var name: String {
    switch self {
    case .orderedDict: "collections.OrderedDict"
    case .rebuildTensorV2: "torch._utils._rebuild_tensor_v2"
    case .rebuildTensor: "torch._utils._rebuild_tensor"
    case .rebuildParameter: "torch._utils._rebuild_parameter"
    case .storageType(let type): "torch.\(type.storageName)"
    case .codecsEncode: "_codecs.encode"
    }
  }
}

/// Element types of torch storages.
enum PthScalarType: Sendable, Equatable, CaseIterable {
  case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

  init?(storageName: String) {
    guard let type = Self.allCases.first(where: { $0.storageName == storageName }) else { return nil }
    self = type
  }

  /// The legacy storage class name torch pickles (`FloatStorage`, ...).
  var storageName: String {
    switch self {
    case .float32: "FloatStorage"
    case .float64: "DoubleStorage"
    case .float16: "HalfStorage"
    case .bfloat16: "BFloat16Storage"
    case .int64: "LongStorage"
    case .int32: "IntStorage"
    case .int16: "ShortStorage"
    case .int8: "CharStorage"
    case .uint8: "ByteStorage"
    case .bool: "BoolStorage"
    }
  }

  var byteCount: Int {
    switch self {
    case .float64, .int64: 8
    case .float32, .int32: 4
    case .float16, .bfloat16, .int16: 2
    case .int8, .uint8, .bool: 1
    }
  }

  var storedType: StoredScalarType {
    switch self {
    case .float32: .float(bits: 32)
    case .float64: .float(bits: 64)
    case .float16: .float(bits: 16)
    case .bfloat16: .bfloat16
    case .int64: .integer(bits: 64, signed: true)
    case .int32: .integer(bits: 32, signed: true)
    case .int16: .integer(bits: 16, signed: true)
    case .int8: .integer(bits: 8, signed: true)
    case .uint8: .integer(bits: 8, signed: false)
    case .bool: .other("bool")
    }
  }
}

extension StoredScalarType {
  /// Brain floating point (8-bit exponent, 7-bit mantissa), a torch storage type HDF5 has no name for.
  static let bfloat16 = StoredScalarType.other("bfloat16")

  /// Float types the model reader converts to Float: float16, bfloat16, float32, float64.
  var isReadableFloat: Bool {
    switch self {
    case .float(let bits): [16, 32, 64].contains(bits)
    case .other(let name): name == "bfloat16"
    case .integer: false
    }
  }
}

/// A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, count)`.
struct PthStorage: Sendable, Equatable {
  /// The record `<stem>/data/<key>` holding the bytes.
  var key: String
  var type: PthScalarType
  /// Elements (not bytes).
  var count: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
struct PthTensor: Sendable {
  var storage: PthStorage
  var offset: Int
  var shape: [Int]
  var strides: [Int]

  /// Elements of the view.
  var count: Int { shape.reduce(1, *) }

  /// True when the view is row-major without gaps (so it is one run of the storage).
  var isContiguous: Bool {
    var expected = 1
    for (extent, stride) in zip(shape, strides).reversed() where extent != 1 {
      guard stride == expected else { return false }
      expected *= extent
    }
    return true
  }
}

/// A dict's entries in insertion order; hashable keys (strings, integers, ...) are unique.
struct PickleDictionary: Sendable {
  private(set) var keys: [PickleValue] = []
  private(set) var values: [PickleValue] = []
  private var positions: [Key: Int] = [:]

  private enum Key: Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case float(UInt64)
    case string(String)
    case bytes([UInt8])
  }

  private static func key(_ value: PickleValue) -> Key? {
    switch value {
    case .none: .null
    case .bool(let flag): .bool(flag)
    case .int(let number): .int(number)
    case .float(let number): .float(number.bitPattern)
    case .string(let text): .string(text)
    case .bytes(let bytes): .bytes(bytes)
    case .bigInteger, .object: nil
    }
  }

  var count: Int { keys.count }

  mutating func set(_ key: PickleValue, _ value: PickleValue) {
    if let hashable = Self.key(key) {
      if let position = positions[hashable] {
        values[position] = value
        return
      }
      positions[hashable] = keys.count
    }
    keys.append(key)
    values.append(value)
  }

  /// The value stored under the string `key`, or nil.
  subscript(key: String) -> PickleValue? {
    positions[.string(key)].map { values[$0] }
  }
}
