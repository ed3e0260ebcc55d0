/// CRC-32 as ZIP uses it (IEEE 802.3, reflected polynomial 0xEDB88320), slicing by four bytes.
struct CRC32 {
  private static let tables: [[UInt32]] = {
    var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 4)
    for byte in 0..<256 {
      var crc = UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
      tables[0][byte] = crc
    }
    for byte in 0..<256 {
      for slice in 1..<4 {
        let previous = tables[slice - 1][byte]
        tables[slice][byte] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
      }
    }
    return tables
  }()

  private var state: UInt32 = 0xFFFF_FFFF

  /// Adds `bytes` to the checksum.
  mutating func update(_ bytes: UnsafeRawBufferPointer) {
    var crc = state
    Self.tables.withUnsafeBufferPointer { tables in
      let t0 = tables[0]
      let t1 = tables[1]
      let t2 = tables[2]
      let t3 = tables[3]
      t0.withUnsafeBufferPointer { t0 in
        t1.withUnsafeBufferPointer { t1 in
          t2.withUnsafeBufferPointer { t2 in
            t3.withUnsafeBufferPointer { t3 in
              var index = 0
              let count = bytes.count
              while index + 4 <= count {
                let word =
                  crc
                  ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16
                    | UInt32(bytes[index + 3]) << 24)
                crc =
                  t3[Int(word & 0xFF)] ^ t2[Int((word >> 8) & 0xFF)] ^ t1[Int((word >> 16) & 0xFF)]
                  ^ t0[Int(word >> 24)]
                index += 4
              }
              while index < count {
                crc = (crc >> 8) ^ t0[Int((crc ^ UInt32(bytes[index])) & 0xFF)]
                index += 1
              }
            }
          }
        }
      }
    }
    state = crc
  }

  /// The checksum of everything added.
  var value: UInt32 { state ^ 0xFFFF_FFFF }

  /// The checksum of `bytes`.
  static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc = CRC32()
    crc.update(bytes)
    return crc.value
  }
}
