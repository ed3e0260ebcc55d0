/// Element types the HDF5 reader converts stored values to (as libhdf5's conversions do: floats
/// round to nearest, integers clamp to the target's range, NaN becomes 0 in integers).
protocol HDF5Element: Sendable {
  init(hdf5Double value: Double)
  init(hdf5Integer value: Int64)
  init(hdf5Unsigned value: UInt64)
  /// True when the stored type is this type's own in-memory layout (copied without conversion).
  static func isNative(_ type: HDF5Datatype) -> Bool
}

extension Float: HDF5Element {
  init(hdf5Double value: Double) { self = Float(value) }
  init(hdf5Integer value: Int64) { self = Float(value) }
  init(hdf5Unsigned value: UInt64) { self = Float(value) }
  static func isNative(_ type: HDF5Datatype) -> Bool { type == .float(size: 4, bigEndian: false) }
}

extension Double: HDF5Element {
  init(hdf5Double value: Double) { self = value }
  init(hdf5Integer value: Int64) { self = Double(value) }
  init(hdf5Unsigned value: UInt64) { self = Double(value) }
  static func isNative(_ type: HDF5Datatype) -> Bool { type == .float(size: 8, bigEndian: false) }
}

extension Int64: HDF5Element {
  init(hdf5Double value: Double) {
    self = value.isNaN ? 0 : value >= 0x1p63 ? .max : value < -0x1p63 ? .min : Int64(value)
  }
  init(hdf5Integer value: Int64) { self = value }
  init(hdf5Unsigned value: UInt64) { self = Int64(clamping: value) }
  static func isNative(_ type: HDF5Datatype) -> Bool {
    type == .integer(size: 8, signed: true, bigEndian: false)
  }
}

extension UInt8: HDF5Element {
  init(hdf5Double value: Double) {
    self = value.isNaN ? 0 : UInt8(Swift.max(0, Swift.min(255, value.rounded(.towardZero))))
  }
  init(hdf5Integer value: Int64) { self = UInt8(clamping: value) }
  init(hdf5Unsigned value: UInt64) { self = UInt8(clamping: value) }
  static func isNative(_ type: HDF5Datatype) -> Bool {
    type == .integer(size: 1, signed: false, bigEndian: false)
  }
}

enum HDF5Values {
  /// Converts `count` stored numbers of `type` in `raw` into `output`; false for a type that is not
  /// a number.
  static func convert<T: HDF5Element>(
    _ raw: UnsafeRawBufferPointer, type: HDF5Datatype, into output: UnsafeMutableBufferPointer<T>
  ) -> Bool {
    func word(_ index: Int, _ size: Int, bigEndian: Bool) -> UInt64 {
      var value: UInt64 = 0
      let base = index * size
      for byte in 0..<size {
        let shift = bigEndian ? size - 1 - byte : byte
        value |= UInt64(raw[base + byte]) << (8 * UInt64(shift))
      }
      return value
    }
    switch type {
    case .float(let size, let bigEndian):
      for index in output.indices {
        let bits = word(index, size, bigEndian: bigEndian)
        let value: Double
        switch size {
        case 2: value = Double(Float16(bitPattern: UInt16(bits)))
        case 4: value = Double(Float(bitPattern: UInt32(bits)))
        default: value = Double(bitPattern: bits)
        }
        output[index] = T(hdf5Double: value)
      }
    case .integer(let size, let signed, let bigEndian):
      for index in output.indices {
        let bits = word(index, size, bigEndian: bigEndian)
        if signed {
          let shift = UInt64(64 - 8 * size)
          output[index] = T(hdf5Integer: Int64(bitPattern: bits << shift) >> Int64(shift))
        } else {
          output[index] = T(hdf5Unsigned: bits)
        }
      }
    default:
      return false
    }
    return true
  }

  /// How many stored floats of `type` in `raw` are NaN and how many infinite (none for
  /// integers), from the bits in the file's byte order.
  static func nonFiniteCounts(_ raw: UnsafeRawBufferPointer, type: HDF5Datatype) -> (nan: Int, infinite: Int)
  {
    guard case .float(let size, let bigEndian) = type else { return (0, 0) }
    var found = (nan: 0, infinite: 0)
    for index in 0..<(raw.count / size) {
      var bits: UInt64 = 0
      for byte in 0..<size {
        let shift = bigEndian ? size - 1 - byte : byte
        bits |= UInt64(raw[index * size + byte]) << (8 * UInt64(shift))
      }
      let value: Double =
        switch size {
        case 2: Double(Float16(bitPattern: UInt16(truncatingIfNeeded: bits)))
        case 4: Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
        default: Double(bitPattern: bits)
        }
      if value.isNaN { found.nan += 1 } else if value.isInfinite { found.infinite += 1 }
    }
    return found
  }

  /// The strings of a string attribute: fixed-length ones cut at their first NUL, variable-length
  /// ones fetched from the global heap.
  static func strings(
    _ data: [UInt8], type: HDF5Datatype, count: Int, context: HDF5Context
  ) throws(HDF5Error) -> [String] {
    switch type {
    case .fixedString(let size):
      guard size > 0 else { return Array(repeating: "", count: count) }
      guard data.count >= size * count else {
        throw context.storage.failure(.truncated, "string attribute is truncated")
      }
      return (0..<count).map { index in
        let slice = data[(index * size)..<((index + 1) * size)]
        return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
      }
    case .variableString:
      var heap = HDF5GlobalHeap(context: context)
      var cursor = context.cursor(data, what: "variable-length string")
      var result: [String] = []
      for _ in 0..<count {
        let length = try cursor.u32()
        let collection = try cursor.address(context.sizes)
        let index = try cursor.u32()
        guard length > 0, let collection else {
          result.append("")
          continue
        }
        let bytes = try heap.object(collection: collection, index: index)
        guard bytes.count >= length else { throw cursor.fail("global heap object shorter than the string") }
        result.append(String(decoding: bytes.prefix(length).prefix { $0 != 0 }, as: UTF8.self))
      }
      return result
    default:
      return []
    }
  }
}
