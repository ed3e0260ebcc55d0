#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// File names as the file system stores them: bytes, not necessarily UTF-8.
///
/// CapsKit passes paths around as `String`s. A name that is not valid UTF-8 (a Latin-1 name from an
/// old archive: `latin1_\xe9t\xe9.png`) is decoded losslessly: every byte that is not part of a valid
/// UTF-8 sequence becomes the private-use scalar U+10FF00 + byte (U+10FF80...U+10FFFF), in the manner
/// of Python's `surrogateescape`. Valid names that happen to contain those scalars have their bytes
/// escaped the same way, so decoding is one-to-one. ``bytes(_:)`` turns a name back into the exact
/// bytes, and every system call on a path goes through ``withCString(_:_:)``. ``display(_:)`` shows
/// escaped bytes as `\xE9` for people.
public enum FileName {
  /// The first of the 128 scalars that stand for the bytes 0x80...0xFF.
  private static let escapeBase: UInt32 = 0x10FF00
  private static let firstEscape: UInt32 = 0x10FF80

  /// The command line (including the program name), each argument decoded losslessly.
  public static var arguments: [String] {
    (0..<Int(CommandLine.argc)).map { index in
      guard let pointer = CommandLine.unsafeArgv[index] else { return "" }
      return decode(cString: pointer)
    }
  }

  /// Decodes a NUL-terminated name.
  public static func decode(cString pointer: UnsafePointer<CChar>) -> String {
    let length = strlen(pointer)
    return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
      decode(UnsafeBufferPointer(start: $0, count: length))
    }
  }

  /// Decodes file-system bytes; `bytes(decode(x)) == x` for every byte sequence without NUL.
  public static func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
    let array = Array(bytes)
    if !array.contains(where: { $0 >= 0x80 }) { return String(decoding: array, as: UTF8.self) }
    var scalars = String.UnicodeScalarView()
    var index = 0
    while index < array.count {
      let length = validSequenceLength(array, at: index)
      let isEscapeScalar =
        length == 4 && array[index] == 0xF4 && array[index + 1] == 0x8F && array[index + 2] >= 0xBE
      if length == 0 || isEscapeScalar {
        let count = max(length, 1)
        for byte in array[index..<(index + count)] {
          scalars.append(Unicode.Scalar(escapeBase + UInt32(byte))!)
        }
        index += count
      } else {
        scalars.append(
          contentsOf: String(decoding: array[index..<(index + length)], as: UTF8.self).unicodeScalars)
        index += length
      }
    }
    return String(scalars)
  }

  /// The bytes `name` stands for (the inverse of ``decode(_:)``).
  public static func bytes(_ name: String) -> [UInt8] {
    guard name.utf8.contains(0xF4) else { return Array(name.utf8) }
    var result: [UInt8] = []
    result.reserveCapacity(name.utf8.count)
    for scalar in name.unicodeScalars {
      if scalar.value >= firstEscape {
        result.append(UInt8(scalar.value - escapeBase))
      } else {
        result.append(contentsOf: String(scalar).utf8)
      }
    }
    return result
  }

  /// Whether `name` holds bytes that are not UTF-8 (shown as `\xHH` by ``display(_:)``).
  public static func hasEscapedBytes(_ name: String) -> Bool {
    name.utf8.contains(0xF4) && name.unicodeScalars.contains { $0.value >= firstEscape }
  }

  /// Runs `body` with the NUL-terminated bytes of `name`, for a system call.
  public static func withCString<Result>(
    _ name: String, _ body: (UnsafePointer<CChar>) throws -> Result
  ) rethrows -> Result {
    guard hasEscapedBytes(name) else { return try name.withCString(body) }
    let terminated = bytes(name) + [0]
    return try terminated.withUnsafeBufferPointer { buffer in
      try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
    }
  }

  /// `path` resolved (symlinks, `.`, `..`; `realpath(3)`), or when it does not exist yet its folder
  /// resolved and its last component kept, so that two spellings of one file compare equal; `path`
  /// itself when the folder cannot be resolved either.
  public static func canonical(_ path: String) -> String {
    if let whole = withCString(path, { realpath($0, nil) }) {
      defer { free(whole) }
      return decode(cString: whole)
    }
    let bytes = bytes(path)
    let slash = bytes.lastIndex(of: UInt8(ascii: "/"))
    let folder = slash.map { $0 == 0 ? "/" : decode(bytes[..<$0]) } ?? "."
    let name = decode(bytes[(slash.map { $0 + 1 } ?? 0)...])
    guard let resolved = withCString(folder, { realpath($0, nil) }) else { return path }
    defer { free(resolved) }
    let base = decode(cString: resolved)
    return base.hasSuffix("/") ? base + name : base + "/" + name
  }

  /// `name` for people: every byte that is not UTF-8 as `\xHH` (upper-case hex).
  public static func display(_ name: String) -> String {
    guard hasEscapedBytes(name) else { return name }
    var text = ""
    for scalar in name.unicodeScalars {
      if scalar.value >= firstEscape {
        text += "\\x" + hex(UInt8(scalar.value - escapeBase))
      } else {
        text.unicodeScalars.append(scalar)
      }
    }
    return text
  }

  /// The byte an escape scalar stands for, or nil for any other scalar.
  public static func escapedByte(_ scalar: Unicode.Scalar) -> UInt8? {
    scalar.value >= firstEscape ? UInt8(scalar.value - escapeBase) : nil
  }

  static func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
  }

  /// The length of the valid UTF-8 sequence starting at `index`, or 0 (RFC 3629: no overlong forms,
  /// no surrogates, nothing above U+10FFFF).
  private static func validSequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
    let lead = bytes[index]
    if lead < 0x80 { return 1 }
    func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
      index + offset < bytes.count && range.contains(bytes[index + offset])
    }
    switch lead {
    case 0xC2...0xDF: return continuation(1) ? 2 : 0
    case 0xE0: return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : 0
    case 0xE1...0xEC, 0xEE...0xEF: return continuation(1) && continuation(2) ? 3 : 0
    case 0xED: return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : 0
    case 0xF0: return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : 0
    case 0xF1...0xF3: return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
    case 0xF4: return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : 0
    default: return 0
    }
  }
}
