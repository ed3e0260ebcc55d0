/// The decoded pickle: its root value and the object table its containers live in.
struct PickleGraph: Sendable {
  var root: PickleValue
  var objects: [PickleObject]
  /// Every storage the persistent ids named, by key.
  var storages: [String: PthStorage] = [:]

  func object(_ value: PickleValue) -> PickleObject? {
    guard case .object(let index) = value else { return nil }
    return objects[index]
  }

  func dictionary(_ value: PickleValue) -> PickleDictionary? {
    guard case .dict(let dictionary)? = object(value) else { return nil }
    return dictionary
  }

  func tensor(_ value: PickleValue) -> PthTensor? {
    guard case .tensor(let tensor)? = object(value) else { return nil }
    return tensor
  }

  /// What a value is, in Python's words, for messages.
  func kind(of value: PickleValue) -> String {
    switch value {
    case .none: return "None"
    case .bool: return "bool"
    case .int, .bigInteger: return "int"
    case .float: return "float"
    case .string: return "str"
    case .bytes: return "bytes"
    case .object(let index):
      switch objects[index] {
      case .tuple: return "tuple"
      case .list: return "list"
      case .dict: return "dict"
      case .global(let global): return global.name
      case .storage: return "storage"
      case .tensor: return "tensor"
      }
    }
  }
}

/// A restricted unpickler for what `torch.save(state_dict)` writes (protocols 2 to 5).
///
/// It never executes anything: `GLOBAL` / `STACK_GLOBAL` names are resolved against a fixed
/// allow-list (`PickleGlobal`), and every other name is refused at once with an error naming it.
/// `REDUCE`, `NEWOBJ` and `BUILD` are interpreted only for the allowed globals (building a dict,
/// recording a tensor view); persistent ids must name storages. Opcodes that build arbitrary objects
/// (`INST`, `OBJ`, `NEWOBJ_EX`, the extension registry) and the text opcodes of protocols 0 and 1
/// are refused.
struct Unpickler {
  private let bytes: [UInt8]
  private let path: String
  /// The archive entry, for messages.
  private let entry: String
  private var position = 0
  private var stack: [PickleValue] = []
  private var marks: [Int] = []
  private var memo: [Int: PickleValue] = [:]
  private var objects: [PickleObject] = []
  private var storages: [String: PthStorage] = [:]
  private var budget: PickleBudget
  /// The stack's deepest point so far (its memory is charged once).
  private var deepestStack = 0
  /// The kind of error for a pickle that ends early.
  private var endKind: FormatError.Kind = .corrupt

  /// Most dimensions accepted for a tensor.
  static let maxRank = 32
  /// Most elements a view may have beyond its storage's count (repeated by a zero stride).
  static let maxRepeatedElements = 1 << 20

  /// Decodes `bytes`, the contents of archive entry `entry` of the file at `path`.
  static func load(_ bytes: [UInt8], entry: String, path: String) throws(FormatError) -> PickleGraph {
    try load(bytes, from: 0, entry: entry, path: path).graph
  }

  /// Decodes the pickle starting at `start` (the legacy format holds several in a row) and returns
  /// where it ends (after its STOP). A pickle that ends early is ``CapsFiles/ErrorKind/corrupt`` (an
  /// archive entry, read whole and CRC-checked), or ``CapsFiles/ErrorKind/truncated`` when `bytes`
  /// end where the file does (`atEndOfFile`, the legacy stream).
  static func load(
    _ bytes: [UInt8], from start: Int, entry: String, path: String, atEndOfFile: Bool = false
  ) throws(FormatError) -> (graph: PickleGraph, end: Int) {
    var unpickler = Unpickler(bytes: bytes, path: path, entry: entry, start: start)
    unpickler.endKind = atEndOfFile ? .truncated : .corrupt
    let root = try unpickler.run()
    return (
      PickleGraph(root: root, objects: unpickler.objects, storages: unpickler.storages), unpickler.position
    )
  }

  private init(bytes: [UInt8], path: String, entry: String, start: Int) {
    self.bytes = bytes
    self.path = path
    self.entry = entry
    self.position = min(max(start, 0), bytes.count)
    budget = PickleBudget(pickleByteCount: bytes.count - position)
  }

  /// Charges `memory` bytes kept and `work` steps done to the budget; refuses the pickle past it.
  private mutating func charge(memory: Int = 0, work: Int = 0) throws(FormatError) {
    budget.memory += memory
    budget.work += work
    if budget.memory > budget.memoryLimit {
      throw failure(
        "the pickle builds more than \(budget.memoryLimit >> 20) MiB of objects, the budget for a pickle of "
          + "\(budget.pickleByteCount) bytes (a state_dict needs a small fraction of it)", .limitExceeded)
    }
    if budget.work > budget.workLimit {
      throw failure(
        "the pickle needs more than \(budget.workLimit) steps of work (copying and hashing), the budget for a "
          + "pickle of \(budget.pickleByteCount) bytes (a state_dict needs a small fraction of it)",
        .limitExceeded)
    }
  }

  /// Memory of `count` values held in a container or on the stack.
  private static func values(_ count: Int) -> Int { count * MemoryLayout<PickleValue>.stride }

  /// Steps to hash `value` as a dict key (its bytes, for strings and bytes).
  private static func hashWork(_ value: PickleValue) -> Int {
    switch value {
    case .string(let text): 1 + text.utf8.count
    case .bytes(let bytes): 1 + bytes.count
    default: 1
    }
  }

  private func failure(_ reason: String, _ kind: FormatError.Kind = .corrupt) -> FormatError {
    FormatError(kind, path: path, detail: "\(entry): \(reason)", tensor: entry)
  }

  private func refusal(_ what: String, hint: String = "") -> FormatError {
    failure(
      "refused \(what): a state_dict needs only tensors, dicts and plain values; nothing was executed\(hint)",
      .unsafeContent)
  }

  /// The hint for a global that names a class (`__main__.CapsNet`, `torch.nn.modules.conv.Conv2d`):
  /// most likely a whole model pickled by `torch.save(model)`.
  static let pickledModuleHint =
    "; if this is a whole model saved with torch.save(model), save model.state_dict() instead"

  // MARK: Reading the byte stream

  private mutating func byte() throws(FormatError) -> UInt8 {
    guard position < bytes.count else { throw failure("the pickle ends without STOP", endKind) }
    defer { position += 1 }
    return bytes[position]
  }

  private mutating func take(_ count: Int) throws(FormatError) -> ArraySlice<UInt8> {
    guard count >= 0, count <= bytes.count - position else {
      throw failure(
        "the pickle is truncated (an opcode needs \(count) bytes, \(bytes.count - position) remain)",
        endKind)
    }
    defer { position += count }
    return bytes[position..<(position + count)]
  }

  /// `count` bytes that become a string or bytes value, charged as memory.
  private mutating func sized(_ count: Int) throws(FormatError) -> ArraySlice<UInt8> {
    try charge(memory: count, work: count)
    return try take(count)
  }

  private mutating func unsigned(_ count: Int) throws(FormatError) -> UInt64 {
    var value: UInt64 = 0
    for (shift, byte) in try take(count).enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
    return value
  }

  /// A length prefix of `count` bytes, checked against what remains before anything is allocated.
  private mutating func length(_ count: Int) throws(FormatError) -> Int {
    let value = try unsigned(count)
    guard value <= UInt64(bytes.count - position) else {
      throw failure(
        "the pickle is truncated (a value claims \(value) bytes, \(bytes.count - position) remain)",
        endKind)
    }
    return Int(value)
  }

  private mutating func line() throws(FormatError) -> String {
    guard let end = bytes[position...].firstIndex(of: 0x0A), end - position <= 1024 else {
      throw failure("the pickle has an unterminated GLOBAL name")
    }
    defer { position = end + 1 }
    return String(decoding: bytes[position..<end], as: UTF8.self)
  }

  private func text(_ slice: ArraySlice<UInt8>) throws(FormatError) -> String {
    guard let text = String(validating: slice, as: UTF8.self) else {
      throw failure("the pickle has a string that is not UTF-8")
    }
    return text
  }

  /// A little-endian two's-complement integer of `count` bytes (LONG1, LONG4).
  private mutating func long(_ count: Int) throws(FormatError) -> PickleValue {
    let digits = try take(count)
    guard count <= 8 else {
      // Larger encodings are valid only if they sign-extend a 64-bit value.
      let high = digits.dropFirst(8)
      let negative = (digits.last ?? 0) & 0x80 != 0
      let fill: UInt8 = negative ? 0xFF : 0
      let low = digits.prefix(8)
      guard high.allSatisfy({ $0 == fill }), ((low.last ?? 0) & 0x80 != 0) == negative else {
        return .bigInteger
      }
      return .int(Int(truncatingIfNeeded: Self.littleEndian(low, signExtend: true)))
    }
    return .int(Int(truncatingIfNeeded: Self.littleEndian(digits, signExtend: true)))
  }

  private static func littleEndian(_ digits: ArraySlice<UInt8>, signExtend: Bool) -> Int64 {
    guard !digits.isEmpty else { return 0 }
    var value: UInt64 = 0
    for (shift, byte) in digits.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
    if signExtend, digits.count < 8, (digits.last ?? 0) & 0x80 != 0 {
      value |= UInt64.max << (8 * UInt64(digits.count))
    }
    return Int64(bitPattern: value)
  }

  // MARK: The stack

  private mutating func push(_ value: PickleValue) throws(FormatError) {
    stack.append(value)
    if stack.count > deepestStack {
      deepestStack = stack.count
      try charge(memory: Self.values(1))
    }
  }

  private mutating func pushObject(_ object: PickleObject) throws(FormatError) {
    try record(object)
    try push(.object(objects.count - 1))
  }

  /// Adds `object` to the table, charging its memory (a container's items included).
  private mutating func record(_ object: PickleObject) throws(FormatError) {
    var memory = MemoryLayout<PickleObject>.stride + 32
    switch object {
    case .tuple(let items), .list(let items): memory += Self.values(items.count)
    case .dict(let dictionary): memory += dictionary.count * PickleBudget.dictionaryEntry
    case .tensor(let tensor): memory += 16 * tensor.shape.count
    case .global, .storage: break
    }
    try charge(memory: memory)
    objects.append(object)
  }

  private mutating func pop() throws(FormatError) -> PickleValue {
    guard stack.count > (marks.last ?? 0), let value = stack.popLast() else {
      throw failure("the pickle pops an empty stack")
    }
    return value
  }

  private func top() throws(FormatError) -> PickleValue {
    guard let value = stack.last, stack.count > (marks.last ?? 0) else {
      throw failure("the pickle reads an empty stack")
    }
    return value
  }

  /// The items above the last MARK, removing them and the mark.
  private mutating func popToMark() throws(FormatError) -> [PickleValue] {
    guard let mark = marks.popLast() else { throw failure("the pickle has no MARK where one is needed") }
    try charge(work: stack.count - mark)
    let items = Array(stack[mark...])
    stack.removeSubrange(mark...)
    return items
  }

  private mutating func remember(_ index: Int) throws(FormatError) {
    if memo[index] == nil { try charge(memory: PickleBudget.dictionaryEntry) }
    memo[index] = try top()
  }

  private func recall(_ index: Int) throws(FormatError) -> PickleValue {
    guard let value = memo[index] else {
      throw failure("the pickle reads memo entry \(index), never written")
    }
    return value
  }

  // MARK: Mutating containers

  private mutating func append(_ items: [PickleValue], to target: PickleValue) throws(FormatError) {
    guard case .object(let index) = target, case .list(var list) = objects[index] else {
      throw failure("the pickle appends to a \(kind(target)), not a list")
    }
    try charge(memory: Self.values(items.count), work: items.count)
    objects[index] = .tuple([])  // drop the reference so the array is extended in place
    list.append(contentsOf: items)
    objects[index] = .list(list)
  }

  private mutating func setItems(_ items: [PickleValue], in target: PickleValue) throws(FormatError) {
    guard case .object(let index) = target, case .dict(var dictionary) = objects[index] else {
      throw failure("the pickle sets items on a \(kind(target)), not a dict")
    }
    guard items.count % 2 == 0 else { throw failure("the pickle sets a key without a value") }
    try chargeInsertion(keys: stride(from: 0, to: items.count, by: 2).lazy.map { items[$0] })
    objects[index] = .tuple([])
    for pair in stride(from: 0, to: items.count, by: 2) { dictionary.set(items[pair], items[pair + 1]) }
    objects[index] = .dict(dictionary)
  }

  /// Charges inserting `keys` into a dict: hashing each, and an entry's memory (charged even when
  /// the key exists, which bounds re-hashing the same large key too).
  private mutating func chargeInsertion(keys: some Sequence<PickleValue>) throws(FormatError) {
    var work = 0
    var count = 0
    for key in keys {
      work += Self.hashWork(key)
      count += 1
    }
    try charge(memory: count * PickleBudget.dictionaryEntry, work: work)
  }

  private func kind(_ value: PickleValue) -> String {
    PickleGraph(root: .none, objects: objects).kind(of: value)
  }

  // MARK: The machine

  private mutating func run() throws(FormatError) -> PickleValue {
    while true {
      try charge(work: 1)
      let opcode = try byte()
      switch opcode {
      case 0x80:  // PROTO
        let version = try byte()
        guard (2...5).contains(version) else {
          throw failure(
            "pickle protocol \(version) is not supported (torch.save writes protocol 2)", .unsupported)
        }
      case 0x95: _ = try take(8)  // FRAME: a length hint only
      case 0x2E:  // STOP
        let result = try pop()
        guard marks.isEmpty else { throw failure("the pickle stops with an open MARK") }
        return result
      case 0x28: marks.append(stack.count)  // MARK
      case 0x30:  // POP
        if let mark = marks.last, mark == stack.count { marks.removeLast() } else { _ = try pop() }
      case 0x31: _ = try popToMark()  // POP_MARK
      case 0x32: try push(try top())  // DUP

      case 0x4E: try push(.none)  // NONE
      case 0x88: try push(.bool(true))  // NEWTRUE
      case 0x89: try push(.bool(false))  // NEWFALSE
      case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try unsigned(4)))))  // BININT
      case 0x4B: try push(.int(Int(try unsigned(1))))  // BININT1
      case 0x4D: try push(.int(Int(try unsigned(2))))  // BININT2
      case 0x8A: try push(try long(Int(try unsigned(1))))  // LONG1
      case 0x8B:  // LONG4
        let count = Int32(truncatingIfNeeded: try unsigned(4))
        guard count >= 0 else { throw failure("the pickle has a LONG4 of negative length") }
        try push(try long(Int(count)))
      case 0x47:  // BINFLOAT, big-endian
        var bits: UInt64 = 0
        for byte in try take(8) { bits = bits << 8 | UInt64(byte) }
        try push(.float(Double(bitPattern: bits)))

      case 0x58: try push(.string(try text(try sized(try length(4)))))  // BINUNICODE
      case 0x8C: try push(.string(try text(try sized(try length(1)))))  // SHORT_BINUNICODE
      case 0x8D: try push(.string(try text(try sized(try length(8)))))  // BINUNICODE8
      case 0x54, 0x55:  // BINSTRING, SHORT_BINSTRING: Python 2 str, read as Latin-1
        let count = opcode == 0x54 ? try length(4) : try length(1)
        try push(.string(String(String.UnicodeScalarView(try sized(count).map { Unicode.Scalar($0) }))))
      case 0x42: try push(.bytes(Array(try sized(try length(4)))))  // BINBYTES
      case 0x43: try push(.bytes(Array(try sized(try length(1)))))  // SHORT_BINBYTES
      case 0x8E, 0x96: try push(.bytes(Array(try sized(try length(8)))))  // BINBYTES8, BYTEARRAY8

      case 0x29: try pushObject(.tuple([]))  // EMPTY_TUPLE
      case 0x74: try pushObject(.tuple(try popToMark()))  // TUPLE
      case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
        var items: [PickleValue] = []
        for _ in 0..<Int(opcode - 0x84) { items.insert(try pop(), at: 0) }
        try pushObject(.tuple(items))
      case 0x5D, 0x8F: try pushObject(.list([]))  // EMPTY_LIST, EMPTY_SET
      case 0x6C, 0x91: try pushObject(.list(try popToMark()))  // LIST, FROZENSET
      case 0x61:  // APPEND
        let item = try pop()
        try append([item], to: try top())
      case 0x65, 0x90:  // APPENDS, ADDITEMS
        let items = try popToMark()
        try append(items, to: try top())
      case 0x7D: try pushObject(.dict(PickleDictionary()))  // EMPTY_DICT
      case 0x64:  // DICT
        let items = try popToMark()
        try pushObject(.dict(PickleDictionary()))
        try setItems(items, in: try top())
      case 0x73:  // SETITEM
        let value = try pop()
        let key = try pop()
        try setItems([key, value], in: try top())
      case 0x75:  // SETITEMS
        let items = try popToMark()
        try setItems(items, in: try top())

      case 0x71: try remember(Int(try unsigned(1)))  // BINPUT
      case 0x72: try remember(Int(try unsigned(4)))  // LONG_BINPUT
      case 0x94: try remember(memo.count)  // MEMOIZE
      case 0x68: try push(try recall(Int(try unsigned(1))))  // BINGET
      case 0x6A: try push(try recall(Int(try unsigned(4))))  // LONG_BINGET

      case 0x63:  // GLOBAL
        let module = try line()
        let name = try line()
        try pushObject(.global(try resolve(module: module, name: name)))
      case 0x93:  // STACK_GLOBAL
        let name = try pop()
        let module = try pop()
        guard case .string(let moduleName) = module, case .string(let globalName) = name else {
          throw failure("the pickle has a STACK_GLOBAL without string names")
        }
        try pushObject(.global(try resolve(module: moduleName, name: globalName)))
      case 0x52:  // REDUCE
        let arguments = try pop()
        let callable = try pop()
        try push(try reduce(callable, arguments))
      case 0x81:  // NEWOBJ
        let arguments = try pop()
        let type = try pop()
        guard case .global(.orderedDict)? = object(type), case .tuple(let items)? = object(arguments),
          items.isEmpty
        else {
          throw refusal("NEWOBJ on a \(kind(type))")
        }
        try pushObject(.dict(PickleDictionary()))
      case 0x62:  // BUILD
        let state = try pop()
        let target = try top()
        switch object(target) {
        case .dict?, .tensor?:
          // OrderedDict's attributes (a state_dict's `_metadata`) and tensor attributes are not needed.
          break
        default:
          throw refusal("BUILD on a \(kind(target)) with a \(kind(state))")
        }
      case 0x51:  // BINPERSID
        try push(try persistentLoad(try pop()))

      case 0x69:  // INST: names a global inline; report it by name
        let module = try line()
        let name = try line()
        throw refusal("the global '\(module).\(name)' (opcode INST)")
      case 0x6F: throw refusal("opcode OBJ (builds an arbitrary object)")
      case 0x92: throw refusal("opcode NEWOBJ_EX (builds an arbitrary object)")
      case 0x82, 0x83, 0x84: throw refusal("an extension-registry global (opcode EXT)")
      case 0x50: throw failure("text persistent ids (opcode PERSID) are not supported", .unsupported)
      case 0x97, 0x98: throw failure("out-of-band buffers (protocol 5) are not supported", .unsupported)
      case 0x49, 0x4C, 0x53, 0x56, 0x46, 0x70, 0x67:
        throw failure(
          "text opcode '\(Character(Unicode.Scalar(opcode)))' of pickle protocol 0/1 is not supported (torch.save writes protocol 2)",
          .unsupported)
      default:
        throw failure("unknown pickle opcode 0x\(String(opcode, radix: 16)) at byte \(position - 1)")
      }
    }
  }

  private func object(_ value: PickleValue) -> PickleObject? {
    guard case .object(let index) = value else { return nil }
    return objects[index]
  }

  private func resolve(module: String, name: String) throws(FormatError) -> PickleGlobal {
    guard let global = PickleGlobal(module: module, name: name) else {
      let namesClass = module.hasPrefix("torch.nn") || name.first?.isUppercase == true
      throw refusal("the global '\(module).\(name)'", hint: namesClass ? Self.pickledModuleHint : "")
    }
    return global
  }

  // MARK: Interpreting the allowed globals

  private mutating func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws(FormatError)
    -> PickleValue
  {
    guard case .global(let global)? = object(callable) else {
      throw refusal("a call of a \(kind(callable))")
    }
    guard case .tuple(let items)? = object(arguments) else {
      throw failure("\(global.name) is called with a \(kind(arguments)), not a tuple")
    }
    switch global {
    case .orderedDict:
      var dictionary = PickleDictionary()
      if let first = items.first {
        guard items.count == 1, case .list(let pairs)? = object(first) else {
          throw failure("collections.OrderedDict is called with unexpected arguments")
        }
        try charge(work: pairs.count)
        for pair in pairs {
          guard case .tuple(let entry)? = object(pair), entry.count == 2 else {
            throw failure("collections.OrderedDict is called with an item that is not a pair")
          }
          try chargeInsertion(keys: CollectionOfOne(entry[0]))
          dictionary.set(entry[0], entry[1])
        }
      }
      try record(.dict(dictionary))
    case .rebuildTensorV2, .rebuildTensor:
      let expected = global == .rebuildTensor ? 4...4 : 6...7
      guard expected.contains(items.count) else {
        throw failure("\(global.name) is called with \(items.count) arguments, expected \(expected)")
      }
      try record(.tensor(try tensor(storage: items[0], offset: items[1], size: items[2], stride: items[3])))
    case .rebuildParameter:
      guard items.count == 3, case .tensor? = object(items[0]) else {
        throw failure("torch._utils._rebuild_parameter is called with unexpected arguments")
      }
      return items[0]
    case .codecsEncode:
      guard items.count == 2, case .string(let text) = items[0], case .string(let encoding) = items[1],
        ["latin1", "latin-1", "iso-8859-1"].contains(encoding.lowercased())
      else {
        throw failure("_codecs.encode is called with unexpected arguments")
      }
      try charge(memory: text.utf8.count, work: text.utf8.count)
      var result: [UInt8] = []
      for scalar in text.unicodeScalars {
        guard scalar.value <= 0xFF else { throw failure("_codecs.encode is given a non-Latin-1 string") }
        result.append(UInt8(scalar.value))
      }
      return .bytes(result)
    case .storageType:
      throw refusal("a call of \(global.name)")
    }
    return .object(objects.count - 1)
  }

  private func integers(_ value: PickleValue, _ what: String) throws(FormatError) -> [Int] {
    guard case .tuple(let items)? = object(value) else {
      throw failure("a tensor's \(what) is a \(kind(value)), not a tuple")
    }
    guard items.count <= Self.maxRank else {
      throw failure(
        "a tensor has \(items.count) dimensions, more than the \(Self.maxRank) supported", .limitExceeded)
    }
    var result: [Int] = []
    for item in items {
      guard case .int(let number) = item, number >= 0 else {
        throw failure("a tensor's \(what) holds \(item), not a non-negative integer")
      }
      result.append(number)
    }
    return result
  }

  /// Checks a view against its storage: every element it reaches must be inside.
  private func tensor(storage: PickleValue, offset: PickleValue, size: PickleValue, stride: PickleValue)
    throws(FormatError) -> PthTensor
  {
    guard case .storage(let storage)? = object(storage) else {
      throw failure("a tensor is built on a \(kind(storage)), not a storage")
    }
    guard case .int(let offset) = offset, offset >= 0 else {
      throw failure(
        "a tensor on storage '\(storage.key)' has a storage offset that is not a non-negative integer")
    }
    let shape = try integers(size, "size")
    let strides = try integers(stride, "stride")
    guard shape.count == strides.count else {
      throw failure(
        "a tensor on storage '\(storage.key)' has \(shape.count) sizes but \(strides.count) strides")
    }
    var count = 1
    var last = offset
    for (extent, step) in zip(shape, strides) {
      let (product, overflow) = count.multipliedReportingOverflow(by: extent)
      let (reach, reachOverflow) = (extent > 0 ? extent - 1 : 0).multipliedReportingOverflow(by: step)
      let (end, endOverflow) = last.addingReportingOverflow(reach)
      guard !overflow, !reachOverflow, !endOverflow else {
        throw failure("a tensor on storage '\(storage.key)' has a size or stride that overflows")
      }
      count = product
      last = end
    }
    // A view may repeat its storage's elements (stride 0, `expand()`), but reads at most
    // `maxRepeatedElements` more than the storage holds: allocation stays bounded by the archive.
    guard count <= max(storage.count, Self.maxRepeatedElements) else {
      throw failure(
        "a tensor view of size \(describe(shape: shape)) (stride \(describe(shape: strides))) has \(count) elements, but storage '\(storage.key)' holds \(storage.count): more than \(Self.maxRepeatedElements) repeated elements (stride 0, expand()) are not read; save the tensor with .contiguous()",
        .limitExceeded)
    }
    if count > 0, last >= storage.count {
      throw failure(
        "a tensor view (offset \(offset), size \(describe(shape: shape)), stride \(describe(shape: strides))) reaches element \(last) of storage '\(storage.key)', which has \(storage.count)"
      )
    }
    return PthTensor(storage: storage, offset: offset, shape: shape, strides: strides)
  }

  /// `('storage', torch.FloatStorage, key, location, count)`, as `torch.save` writes it; the legacy
  /// format adds a sixth item, view metadata, which must be None.
  private mutating func persistentLoad(_ id: PickleValue) throws(FormatError) -> PickleValue {
    guard case .tuple(let items)? = object(id), items.count == 5 || items.count == 6,
      case .string("storage") = items[0]
    else {
      throw failure("a persistent id is not a storage reference ('storage', type, key, location, size)")
    }
    if items.count == 6 {
      guard case .none = items[5] else {
        throw failure(
          "storage views (from the oldest torch.save files) are not supported; re-save with a current PyTorch",
          .unsupported)
      }
    }
    guard case .global(.storageType(let type))? = object(items[1]) else {
      throw failure("a storage has type \(kind(items[1])), not a torch storage class")
    }
    guard case .string(let key) = items[2], !key.isEmpty, !key.contains("/"), key != "..", key != "." else {
      throw failure("a storage has a key that is not a plain name", .unsafeContent)
    }
    guard case .int(let count) = items[4], count >= 0 else {
      throw failure("storage '\(key)' has a size that is not a non-negative integer")
    }
    let storage = PthStorage(key: key, type: type, count: count)
    if let known = storages[key], known != storage {
      throw failure("storage '\(key)' is described twice with different types or sizes")
    }
    storages[key] = storage
    try record(.storage(storage))
    return .object(objects.count - 1)
  }
}

/// What one pickle may cost, as a function of its size: memory kept in objects (containers, strings,
/// the memo and the stack) and work (opcodes, copied items, hashed key bytes). A state_dict pickle
/// costs a few times its size in both; a pickle past its budget is refused before it can exhaust
/// memory or time. The memory charged is an estimate of what the objects really hold (a Swift array
/// header, 24 bytes per value, about 80 bytes per dict entry).
struct PickleBudget {
  /// Memory charged per dict or memo entry (key, value, hash-table slot).
  static let dictionaryEntry = 80
  /// Memory limit: 16 bytes per pickle byte plus 4 MiB, at most 96 MiB.
  static func memoryLimit(pickleByteCount: Int) -> Int { min(16 * pickleByteCount + (4 << 20), 96 << 20) }
  /// Work limit: 64 steps per pickle byte plus 16 M, at most 2^31 (about a second of hashing).
  static func workLimit(pickleByteCount: Int) -> Int { min(64 * pickleByteCount + (16 << 20), 1 << 31) }

  let pickleByteCount: Int
  let memoryLimit: Int
  let workLimit: Int
  var memory = 0
  var work = 0

  init(pickleByteCount: Int) {
    self.pickleByteCount = pickleByteCount
    memoryLimit = Self.memoryLimit(pickleByteCount: pickleByteCount)
    workLimit = Self.workLimit(pickleByteCount: pickleByteCount)
  }
}
