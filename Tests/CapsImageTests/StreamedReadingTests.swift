import CapsImage
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `ImageFile` reads PNG files as a stream (issue 12): only regular files, the file read up to the end
/// of the PNG data, rows decoded one at a time into the luminance image.
@Suite("Streamed PNG files") struct StreamedReadingTests {
  static func temporaryDirectory() throws -> String {
    var template = Array("/tmp/capsimage-stream-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
      throw ImageError(source: "tmp", kind: .io(errno: errno), detail: "mkdtemp")
    }
    return String(cString: made)
  }

  @Test("a streamed file decodes to the same pixels as the bytes in memory, for every layout")
  func streamedMatchesInMemory() throws {
    let directory = try Self.temporaryDirectory()
    defer { _ = try? FileManager.default.removeItem(atPath: directory) }
    var random = TestRandom(seed: 12)
    let layouts: [(colorType: UInt8, depths: [Int])] = [
      (0, [1, 2, 4, 8, 16]), (2, [8, 16]), (3, [1, 2, 4, 8]), (4, [8, 16]), (6, [8, 16]),
    ]
    var checked = 0
    for (colorType, depths) in layouts {
      for depth in depths {
        for interlaced in [false, true] {
          let (width, height) = (11 + random.next(below: 9), 7 + random.next(below: 9))
          let channels = TestPNG.channels(colorType)
          let top = colorType == 3 ? min((1 << depth) - 1, 3) : (1 << depth) - 1
          let samples = (0..<(width * height * channels)).map { _ in UInt16(random.next(below: top + 1)) }
          var extra: [[UInt8]] = []
          if colorType == 3 {
            extra.append(TestPNG.chunk("PLTE", [0, 0, 0, 255, 255, 255, 30, 140, 200, 90, 10, 250]))
            extra.append(TestPNG.chunk("tRNS", [255, 0, 128]))
          }
          let png = TestPNG.make(
            width: width, height: height, bitDepth: depth, colorType: colorType, samples: samples,
            interlaced: interlaced, beforeIDAT: extra)
          let path = "\(directory)/c\(colorType)-\(depth)-\(interlaced).png"
          try Data(png).write(to: URL(fileURLWithPath: path))
          let inMemory = try PNGCodec.decode(png, name: path, alphaBackground: 40)
          #expect(try ImageFile.readPNG(atPath: path, alphaBackground: 40) == inMemory, "\(path)")
          #expect(try ImageFile.readPNGHeader(atPath: path) == PNGCodec.readHeader(png, name: path))
          checked += 1
        }
      }
    }
    #expect(checked == 30)
  }

  @Test("bytes after IEND are not read (a 200 MiB sparse tail), but the file size limit still holds")
  func trailingBytesAreNotRead() throws {
    let directory = try Self.temporaryDirectory()
    defer { _ = try? FileManager.default.removeItem(atPath: directory) }
    let samples = (0..<(28 * 28)).map { UInt16($0 % 256) }
    let png = TestPNG.make(width: 28, height: 28, bitDepth: 8, colorType: 0, samples: samples)
    let path = "\(directory)/tail.png"
    try Data(png).write(to: URL(fileURLWithPath: path))
    #expect(truncate(path, off_t(200 << 20)) == 0)
    let decoded = try ImageFile.readPNG(atPath: path)
    #expect(decoded.pixels == samples.map(Float.init))
    // The size limit still applies to the file as a whole.
    #expect(truncate(path, off_t(300 << 20)) == 0)
    #expect(throws: ImageError.self) { try ImageFile.readPNG(atPath: path) }
  }

  @Test("a FIFO, a character device and a directory are refused before reading, naming what they are")
  func specialFilesAreRefused() throws {
    let directory = try Self.temporaryDirectory()
    defer { _ = try? FileManager.default.removeItem(atPath: directory) }
    let fifo = "\(directory)/fifo.png"
    #expect(mkfifo(fifo, 0o600) == 0)
    let cases = [
      (fifo, "is a FIFO (named pipe), not a regular file"),
      ("/dev/zero", "is a character device, not a regular file"),
      (directory, "is a directory, not a regular file"),
    ]
    for (path, detail) in cases {
      let expected = ImageError(source: path, kind: .notRegularFile, detail: detail)
      #expect(throws: expected) { try ImageFile.readPNG(atPath: path) }
      #expect(throws: expected) { try ImageFile.readPNGHeader(atPath: path) }
      #expect(throws: expected) { try ImageFile.readBytes(atPath: path) }
    }
  }

  @Test("a 16-bit RGBA image whose last row is corrupt fails with the row error, not a crash")
  func corruptLastRow() throws {
    let directory = try Self.temporaryDirectory()
    defer { _ = try? FileManager.default.removeItem(atPath: directory) }
    let (width, height) = (64, 48)
    let samples = [UInt16](repeating: 4000, count: width * height * 4)
    var png = TestPNG.make(width: width, height: height, bitDepth: 16, colorType: 6, samples: samples)
    // The filter byte of the last scanline (stored deflate: the raw bytes sit in the IDAT data) is 9,
    // an invalid filter type; the IDAT CRC is recomputed so that only the row is wrong.
    let rowBytes = 1 + width * 8
    let idat = png.count - 12 - 12 - 4 - rowBytes  // IEND, IDAT CRC, zlib Adler-32, last row
    png[idat] = 9
    let typeOffset = 8 + 25 + 4
    let length = Int(png[33]) << 24 | Int(png[34]) << 16 | Int(png[35]) << 8 | Int(png[36])
    let crc = TestPNG.crc32(Array(png[typeOffset..<(typeOffset + 4 + length)]))
    png.replaceSubrange((typeOffset + 4 + length)..<(typeOffset + 8 + length), with: TestPNG.be32(crc))
    let path = "\(directory)/lastrow.png"
    try Data(png).write(to: URL(fileURLWithPath: path))
    do {
      _ = try ImageFile.readPNG(atPath: path)
      Issue.record("expected an error")
    } catch let error as ImageError {
      #expect(error.kind == .corrupt, "\(error)")
    }
  }
}
