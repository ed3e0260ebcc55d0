// A tiny independent PNG writer for tests: stored (uncompressed) deflate blocks, filter type 0, every
// colour type and bit depth, optional Adam7. It does not use libpng, so it cross-checks the decoder.

enum TestPNG {
  static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
  static let adam7: [(x0: Int, y0: Int, dx: Int, dy: Int)] = [
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2),
  ]

  static func channels(_ colorType: UInt8) -> Int {
    switch colorType {
    case 2: return 3
    case 4: return 2
    case 6: return 4
    default: return 1
    }
  }

  static func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for byte in bytes {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = (crc >> 1) ^ (0xedb8_8320 & (0 &- (crc & 1))) }
    }
    return crc ^ 0xffff_ffff
  }

  static func be32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
  }

  static func chunk(_ type: String, _ data: [UInt8], crc: UInt32? = nil) -> [UInt8] {
    let body = Array(type.utf8) + data
    return be32(UInt32(data.count)) + body + be32(crc ?? crc32(body))
  }

  static func ihdr(width: UInt32, height: UInt32, bitDepth: UInt8, colorType: UInt8, interlaced: Bool = false)
    -> [UInt8]
  {
    chunk("IHDR", be32(width) + be32(height) + [bitDepth, colorType, 0, 0, interlaced ? 1 : 0])
  }

  /// zlib stream made of stored deflate blocks.
  static func zlibStored(_ raw: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
      let count = min(65535, raw.count - offset)
      let final: UInt8 = offset + count == raw.count ? 1 : 0
      out += [
        final, UInt8(count & 0xff), UInt8(count >> 8), UInt8(~count & 0xff), UInt8((~count >> 8) & 0xff),
      ]
      out += raw[offset..<(offset + count)]
      offset += count
    } while offset < raw.count
    var a: UInt32 = 1
    var b: UInt32 = 0
    for byte in raw {
      a = (a + UInt32(byte)) % 65521
      b = (b + a) % 65521
    }
    return out + be32(b << 16 | a)
  }

  /// Scanlines (filter type 0) for the pixels at the given coordinates.
  static func scanlines(
    samples: [UInt16], width: Int, bitDepth: Int, channels: Int, xs: [Int], ys: [Int]
  ) -> [UInt8] {
    var out: [UInt8] = []
    for y in ys {
      out.append(0)
      var bits: [UInt16] = []
      for x in xs {
        for c in 0..<channels { bits.append(samples[(y * width + x) * channels + c]) }
      }
      switch bitDepth {
      case 16:
        for v in bits { out += [UInt8(v >> 8), UInt8(v & 0xff)] }
      case 8:
        for v in bits { out.append(UInt8(v)) }
      default:
        let perByte = 8 / bitDepth
        var index = 0
        while index < bits.count {
          var byte: UInt8 = 0
          for k in 0..<perByte {
            let v = index + k < bits.count ? UInt8(bits[index + k]) : 0
            byte |= v << UInt8(8 - bitDepth * (k + 1))
          }
          out.append(byte)
          index += perByte
        }
      }
    }
    return out
  }

  /// A complete PNG. `samples` holds `channels(colorType)` native-depth samples per pixel, row-major.
  static func make(
    width: Int, height: Int, bitDepth: Int, colorType: UInt8, samples: [UInt16], interlaced: Bool = false,
    beforeIDAT: [[UInt8]] = []
  ) -> [UInt8] {
    let channels = channels(colorType)
    precondition(samples.count == width * height * channels)
    var raw: [UInt8] = []
    if interlaced {
      for pass in adam7 {
        let xs = Array(stride(from: pass.x0, to: width, by: pass.dx))
        let ys = Array(stride(from: pass.y0, to: height, by: pass.dy))
        if xs.isEmpty || ys.isEmpty { continue }
        raw += scanlines(
          samples: samples, width: width, bitDepth: bitDepth, channels: channels, xs: xs, ys: ys)
      }
    } else {
      raw = scanlines(
        samples: samples, width: width, bitDepth: bitDepth, channels: channels, xs: Array(0..<width),
        ys: Array(0..<height))
    }
    var file = signature
    file += ihdr(
      width: UInt32(width), height: UInt32(height), bitDepth: UInt8(bitDepth), colorType: colorType,
      interlaced: interlaced)
    for extra in beforeIDAT { file += extra }
    file += chunk("IDAT", zlibStored(raw))
    file += chunk("IEND", [])
    return file
  }
}

/// Deterministic pseudo-random numbers (64-bit LCG) for reproducible tests.
struct TestRandom {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next(below bound: Int) -> Int {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Int((state >> 33) % UInt64(bound))
  }
}
