/// The `data.pkl` of a `torch.save` ZIP archive holding a state_dict, as pickle protocol 2: an
/// `collections.OrderedDict` whose values are tensors rebuilt by `torch._utils._rebuild_tensor_v2`
/// from a persistent id `('storage', torch.FloatStorage, '<key>', 'cpu', <numel>)` (the storage is
/// archive member `data/<key>`), offset 0, the shape, contiguous strides, `requires_grad` False and
/// an empty `OrderedDict` of backward hooks. Only the opcodes `torch.load(weights_only=True)` and
/// CapsKit's restricted unpickler accept are used; nothing is memoised (every global is spelled out).
enum StateDictPickle {
  /// One tensor of the state_dict: its key, shape and the storage member's key.
  struct Entry {
    var key: String
    var shape: [Int]
    var storageKey: String
  }

  static func bytes(for entries: [Entry]) -> [UInt8] {
    var out: [UInt8] = [0x80, 2]  // PROTO 2
    global("collections", "OrderedDict", &out)
    out += [0x29, 0x52]  // EMPTY_TUPLE, REDUCE
    if !entries.isEmpty {
      out.append(0x28)  // MARK
      for entry in entries {
        unicode(entry.key, &out)
        global("torch._utils", "_rebuild_tensor_v2", &out)
        out.append(0x28)  // MARK (arguments)
        out.append(0x28)  // MARK (persistent id)
        unicode("storage", &out)
        global("torch", "FloatStorage", &out)
        unicode(entry.storageKey, &out)
        unicode("cpu", &out)
        integer(entry.shape.reduce(1, *), &out)
        out += [0x74, 0x51]  // TUPLE, BINPERSID
        integer(0, &out)  // storage offset
        tuple(entry.shape, &out)
        tuple(contiguousStrides(entry.shape), &out)
        out.append(0x89)  // NEWFALSE: requires_grad
        global("collections", "OrderedDict", &out)
        out += [0x29, 0x52]  // backward hooks: OrderedDict()
        out += [0x74, 0x52]  // TUPLE, REDUCE
      }
      out.append(0x75)  // SETITEMS
    }
    out.append(0x2E)  // STOP
    return out
  }

  static func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    for axis in stride(from: shape.count - 2, through: 0, by: -1) {
      strides[axis] = strides[axis + 1] * max(shape[axis + 1], 1)
    }
    return strides
  }

  private static func global(_ module: String, _ name: String, _ out: inout [UInt8]) {
    out.append(0x63)  // GLOBAL
    out += Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
  }

  private static func unicode(_ text: String, _ out: inout [UInt8]) {
    out.append(0x58)  // BINUNICODE
    littleEndian(UInt32(text.utf8.count), &out)
    out += Array(text.utf8)
  }

  /// BININT1, BININT2 or BININT; tensor sizes are bounded far below 2^31 (`ModelFile.ReadOptions`).
  private static func integer(_ value: Int, _ out: inout [UInt8]) {
    precondition(value >= 0 && value <= Int(Int32.max), "pickled sizes are non-negative 32-bit")
    if value < 0x100 {
      out += [0x4B, UInt8(value)]
    } else if value < 0x1_0000 {
      out += [0x4D, UInt8(value & 0xFF), UInt8(value >> 8)]
    } else {
      out.append(0x4A)
      littleEndian(UInt32(value), &out)
    }
  }

  private static func tuple(_ values: [Int], _ out: inout [UInt8]) {
    switch values.count {
    case 0: out.append(0x29)  // EMPTY_TUPLE
    case 1...3:
      for value in values { integer(value, &out) }
      out.append([0x85, 0x86, 0x87][values.count - 1])  // TUPLE1/2/3
    default:
      out.append(0x28)
      for value in values { integer(value, &out) }
      out.append(0x74)
    }
  }

  static func littleEndian<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { out += $0 }
  }
}
