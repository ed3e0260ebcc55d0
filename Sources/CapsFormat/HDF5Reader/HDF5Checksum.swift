/// The two checksums HDF5 files carry.
package enum HDF5Checksum {
  /// Bob Jenkins' lookup3 `hashlittle` with seed 0, which guards HDF5's version-2 metadata
  /// (object headers v2, fractal heaps, v2 B-trees, fixed arrays).
  package static func lookup3(_ data: ArraySlice<UInt8>) -> UInt32 {
    func rot(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }
    func word(_ at: Int, _ count: Int) -> UInt32 {
      var value: UInt32 = 0
      for i in 0..<count { value |= UInt32(data[at + i]) << (8 * UInt32(i)) }
      return value
    }
    // The state (a, b, c). Both the mix and the final rounds step through it cyclically: each
    // step works on h[x] with h[z], the value before it in the cycle (and, in the mix, h[y]).
    let seed = 0xdead_beef &+ UInt32(truncatingIfNeeded: data.count)
    var h = [seed, seed, seed]
    var length = data.count
    var index = data.startIndex
    while length > 12 {
      for lane in 0..<3 { h[lane] &+= word(index + 4 * lane, 4) }
      for (step, k) in [UInt32(4), 6, 8, 16, 19, 4].enumerated() {
        let x = step % 3
        let (y, z) = ((x + 1) % 3, (x + 2) % 3)
        h[x] &-= h[z]
        h[x] ^= rot(h[z], k)
        h[z] &+= h[y]
      }
      length -= 12
      index += 12
    }
    if length == 0 { return h[2] }
    for lane in 0..<3 where length > 4 * lane {
      h[lane] &+= word(index + 4 * lane, min(length - 4 * lane, 4))
    }
    for (step, k) in [UInt32(14), 11, 25, 16, 4, 14, 24].enumerated() {
      let x = (step + 2) % 3
      let z = (x + 2) % 3
      h[x] ^= h[z]
      h[x] &-= rot(h[z], k)
    }
    return h[2]
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
