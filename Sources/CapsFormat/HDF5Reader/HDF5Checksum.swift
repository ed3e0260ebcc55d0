/// The two checksums HDF5 files carry.
enum HDF5Checksum {
  /// Bob Jenkins' lookup3 `hashlittle` with seed 0, which guards HDF5's version-2 metadata
  /// (object headers v2, fractal heaps, v2 B-trees, fixed arrays).
  static func lookup3(_ data: ArraySlice<UInt8>) -> UInt32 {
    func rot(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }
    var length = data.count
    var a = 0xdead_beef &+ UInt32(truncatingIfNeeded: length)
    var b = a
    var c = a
    var index = data.startIndex
    func word(_ at: Int, _ count: Int) -> UInt32 {
      var value: UInt32 = 0
      for i in 0..<count { value |= UInt32(data[at + i]) << (8 * UInt32(i)) }
      return value
    }
    while length > 12 {
      a &+= word(index, 4)
      b &+= word(index + 4, 4)
      c &+= word(index + 8, 4)
      a &-= c
      a ^= rot(c, 4)
      c &+= b
      b &-= a
      b ^= rot(a, 6)
      a &+= c
      c &-= b
      c ^= rot(b, 8)
      b &+= a
      a &-= c
      a ^= rot(c, 16)
      c &+= b
      b &-= a
      b ^= rot(a, 19)
      a &+= c
      c &-= b
      c ^= rot(b, 4)
      b &+= a
      length -= 12
      index += 12
    }
    if length == 0 { return c }
    a &+= word(index, min(length, 4))
    if length > 4 { b &+= word(index + 4, min(length - 4, 4)) }
    if length > 8 { c &+= word(index + 8, length - 8) }
    c ^= b
    c &-= rot(b, 14)
    a ^= c
    a &-= rot(c, 11)
    b ^= a
    b &-= rot(a, 25)
    c ^= b
    c &-= rot(b, 16)
    a ^= c
    a &-= rot(c, 4)
    b ^= a
    b &-= rot(a, 14)
    c ^= b
    c &-= rot(b, 24)
    return c
  }

  /// Fletcher-32 over big-endian 16-bit words, as HDF5's fletcher32 filter computes it.
  static func fletcher32(_ data: UnsafeRawBufferPointer) -> UInt32 {
    var sum1: UInt32 = 0
    var sum2: UInt32 = 0
    var words = data.count / 2
    var index = 0
    while words > 0 {
      let block = min(words, 360)
      words -= block
      for _ in 0..<block {
        sum1 &+= (UInt32(data[index]) << 8) | UInt32(data[index + 1])
        sum2 &+= sum1
        index += 2
      }
      sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
      sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
    }
    if data.count % 2 == 1 {
      sum1 &+= UInt32(data[index]) << 8
      sum2 &+= sum1
      sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
      sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
    }
    sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
    sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
    return (sum2 << 16) | sum1
  }
}
