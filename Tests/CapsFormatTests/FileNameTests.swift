import CapsFiles
import CapsTestSupport
import Testing

/// `FileName` keeps file names as bytes inside `String`s (issue 12): decoding is one-to-one, so every
/// byte string without NUL comes back exactly, and UTF-8 names are the strings they spell.
@Suite struct FileNameTests {
  @Test func everyByteStringRoundTrips() {
    var generator = SeededGenerator(seed: 12)
    for length in 0..<48 {
      for _ in 0..<60 {
        // Bytes 1...255, biased towards the interesting ones (lead bytes, continuations, F4 8F BE/BF).
        let pool: [UInt8] = [
          0x41, 0x2F, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0xF4, 0x8F, 0xBE, 0xBF, 0x80, 0xFF, 0xED,
          0xA0,
        ]
        let bytes = (0..<length).map { _ in
          generator.next() % 3 == 0
            ? UInt8(1 + generator.next() % 255) : pool[Int(generator.next() % UInt64(pool.count))]
        }
        let name = FileName.decode(bytes)
        #expect(FileName.bytes(name) == bytes, "\(bytes)")
        #expect(FileName.withCString(name) { String(cString: $0).isEmpty } == bytes.isEmpty)
      }
    }
  }

  @Test func utf8NamesAreTheirStringsAndOtherBytesAreShownEscaped() {
    for text in ["digit.png", "café/été.png", "日本語.png", "emoji 🙂.png"] {
      #expect(FileName.decode(Array(text.utf8)) == text)
      #expect(FileName.bytes(text) == Array(text.utf8))
      #expect(FileName.display(text) == text)
      #expect(!FileName.hasEscapedBytes(text))
    }
    let latin1: [UInt8] = Array("latin1_".utf8) + [0xE9, 0x74, 0xE9] + Array(".png".utf8)
    let name = FileName.decode(latin1)
    #expect(FileName.hasEscapedBytes(name))
    #expect(FileName.display(name) == "latin1_\\xE9t\\xE9.png")
    #expect(FileName.bytes(name) == latin1)
    // A valid UTF-8 name holding one of the escape scalars (U+10FF80...) is escaped too, so that
    // decoding stays one-to-one.
    let escapeScalar: [UInt8] = [0xF4, 0x8F, 0xBE, 0x80]
    #expect(FileName.display(FileName.decode(escapeScalar)) == "\\xF4\\x8F\\xBE\\x80")
    #expect(FileName.bytes(FileName.decode(escapeScalar)) == escapeScalar)
  }
}
