import CapsFormat
import CapsTestSupport
import Testing

@testable import CapsImage

/// The fixture digits' table (`Fixtures/digits/expected.csv`, written by Tools/fixtures/make_fixtures.py),
/// found with the one fixture locator, CapsTestSupport's `Fixtures`. A missing fixture fails the
/// tests that need it.
enum DigitFixtures {
  static let digits = Fixtures.path("digits")
  static let bad = Fixtures.path("bad")

  struct Row {
    var file: String
    var mnistIndex: Int
    var encoding: String
    var width: Int
    var height: Int
    var interlaced: Bool
    var darkOnLight: Bool
    var preprocess: String
  }

  static func rows() throws -> [Row] {
    let text = String(decoding: try ImageFile.readBytes(atPath: "\(digits)/expected.csv"), as: UTF8.self)
    var lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
    let header = lines.removeFirst().map(String.init)
    func column(_ name: String) throws -> Int { try #require(header.firstIndex(of: name), "column \(name)") }
    let file = try column("file")
    let index = try column("mnist_index")
    let encoding = try column("encoding")
    let width = try column("width")
    let height = try column("height")
    let interlaced = try column("interlaced")
    let polarity = try column("polarity")
    let preprocess = try column("preprocess")
    return try lines.map { f in
      Row(
        file: String(f[file]), mnistIndex: try #require(Int(f[index])), encoding: String(f[encoding]),
        width: try #require(Int(f[width])), height: try #require(Int(f[height])),
        interlaced: f[interlaced] == "true", darkOnLight: f[polarity] == "dark_on_light",
        preprocess: String(f[preprocess]))
    }
  }
}

@Suite("Shared fixtures")
struct FixtureTests {
  /// (colour type, bit depth) implied by the fixture encoding name.
  static func expectedFormat(_ encoding: String) -> (PNGColorType, Int)? {
    switch encoding.split(separator: "_").first.map(String.init) ?? "" {
    case "gray1": return (.gray, 1)
    case "gray2": return (.gray, 2)
    case "gray4": return (.gray, 4)
    case "gray8": return (.gray, 8)
    case "gray16": return (.gray, 16)
    case "graya8": return (.grayAlpha, 8)
    case "graya16": return (.grayAlpha, 16)
    case "rgb8": return (.rgb, 8)
    case "rgb16": return (.rgb, 16)
    case "rgba8": return (.rgba, 8)
    case "rgba16": return (.rgba, 16)
    case "palette8": return (.palette, 8)
    default: return nil
    }
  }

  /// The intended pixels of an encoding given the original 8-bit MNIST pixels (as Tools/fixtures/make_fixtures.py).
  static func intended(_ original: [UInt8], encoding: String) -> [UInt8] {
    switch encoding.split(separator: "_").first.map(String.init) ?? "" {
    case "gray1": return original.map { $0 >= 128 ? 255 : 0 }
    case "gray2": return original.map { ($0 >> 6) * 85 }
    case "gray4": return original.map { ($0 >> 4) * 17 }
    default: return original
    }
  }

  @Test("every fixture digit decodes to a consistent 28x28 input")
  func digits() throws {
    let rows = try DigitFixtures.rows()
    #expect(rows.count >= 20)
    var inputs: [Int: (DigitFixtures.Row, [UInt8])] = [:]
    for row in rows {
      let path = "\(DigitFixtures.digits)/\(row.file)"
      let header = try ImageFile.readPNGHeader(atPath: path)
      #expect(header.width == row.width && header.height == row.height, "\(row.file)")
      #expect(header.isInterlaced == row.interlaced, "\(row.file)")
      let format = try #require(Self.expectedFormat(row.encoding), "\(row.encoding)")
      #expect(header.colorType == format.0 && header.bitDepth == format.1, "\(row.file)")
      #expect(header.hasTransparencyChunk == row.encoding.contains("trns"), "\(row.file)")

      let decoded = try ImageFile.readPNG(atPath: path)
      #expect(decoded.width == row.width && decoded.height == row.height)
      // Every fixture stores 8-bit levels (16-bit as v8 * 257, colour as R = G = B, alpha opaque),
      // so exact decoding gives integers.
      #expect(decoded.pixels.allSatisfy { $0 == $0.rounded() && (0...255).contains($0) }, "\(row.file)")
      let levels = Set(decoded.pixels)
      switch format.1 {
      case 1: #expect(levels.isSubset(of: [0, 255]), "\(row.file)")
      case 2: #expect(levels.allSatisfy { Int($0) % 85 == 0 }, "\(row.file)")
      case 4: #expect(levels.allSatisfy { Int($0) % 17 == 0 }, "\(row.file)")
      default: break
      }
      #expect(decoded.isDarkOnLight == row.darkOnLight, "\(row.file)")

      let mode: DigitPreprocessing = row.preprocess == "scale" ? .scale : .mnist
      let input = try ImageFile.readDigit(atPath: path, mode: mode)
      #expect(input.width == 28 && input.height == 28)
      #expect(!input.isDarkOnLight, "\(row.file)")
      if row.width == 28 {
        #expect(input == (row.darkOnLight ? decoded.inverted() : decoded), "\(row.file)")
        #expect(try ImageFile.readDigit(atPath: path, mode: .none) == input)
      } else {
        // Nearest-neighbour enlargement: scale mode must recover the block values exactly.
        let k = row.width / 28
        for y in 0..<row.height {
          for x in 0..<row.width where decoded[x, y] != input[x / k, y / k] {
            Issue.record("\(row.file): (\(x), \(y)) is \(decoded[x, y]), block value \(input[x / k, y / k])")
          }
        }
        #expect(throws: ImageError.self) { try ImageFile.readDigit(atPath: path, mode: .none) }
      }
      inputs[row.mnistIndex] = (row, input.bytes)
    }

    // Exact cross-check against the raw MNIST pixels stored with the reference activations.
    let reference = try ReferenceActivations.read(at: Fixtures.path("activations/small.h5"))
    var compared = 0
    for (n, index) in reference.indices.enumerated() {
      guard let (row, input) = inputs[index] else { continue }
      let original = reference.pixels.values[(n * 784)..<((n + 1) * 784)].map { UInt8($0) }
      #expect(input == Self.intended(original, encoding: row.encoding), "\(row.file)")
      compared += 1
    }
    #expect(compared > 0)
  }

  @Test("bad fixture PNGs give one-line typed errors")
  func badFiles() throws {
    let cases: [(String, ImageError.Kind, String)] = [
      ("not_png.png", .wrongFormat, "not a PNG file (bad signature)"),
      ("zero_size.png", .zeroSize, "invalid image size 0x28 (width and height must be at least 1)"),
      (
        "huge_dimensions.png", .limitExceeded,
        "image too large (100000x100000; limits are 8192x8192 and 16777216 pixels)"
      ),
      ("bad_crc.png", .corrupt, "corrupt PNG (IDAT: CRC error)"),
      ("truncated.png", .truncated, "truncated file (unexpected end of data at byte "),
    ]
    for (name, kind, detail) in cases {
      let path = "\(DigitFixtures.bad)/\(name)"
      do {
        _ = try ImageFile.readPNG(atPath: path)
        Issue.record("\(name) decoded without error")
      } catch let error as ImageError {
        #expect(error.kind == kind, "\(name): \(error)")
        #expect(error.source == path)
        #expect(error.detail.hasPrefix(detail), "\(name): \(error)")
        #expect(!error.description.contains("\n"))
      }
    }
  }
}
