/// A decoder for LZF, the compressor of h5py's filter 32000 (Marc Lehmann's liblzf format).
///
/// The stream is a sequence of items, each starting with a control byte `c`:
/// - `c < 32`: a literal run; the next `c + 1` bytes are copied to the output.
/// - otherwise a back reference: length `c >> 5` (when 7, plus the next byte), distance
///   `(c & 31) << 8` plus the next byte, plus one; `length + 2` bytes are copied from that far back
///   in the output, byte by byte (the source may overlap what is being written).
///
/// Every length and distance is checked against the input, the output written so far and the
/// expected size before any byte moves, so a hostile stream can neither read nor write out of
/// bounds, and the output is never larger than `count`.
enum HDF5LZF {
  enum Failure: Error, Equatable {
    /// The stream ends before `count` bytes were produced (how many were).
    case short(Int)
    /// The stream would produce more than `count` bytes.
    case long
    /// A truncated item or a reference before the start of the output.
    case corrupt(String)
  }

  /// Decodes `input`, which must produce exactly `count` bytes.
  static func decode(_ input: [UInt8], count: Int) -> Result<[UInt8], Failure> {
    var output = [UInt8](repeating: 0, count: count)
    var read = 0
    var written = 0
    while read < input.count {
      let control = Int(input[read])
      read += 1
      if control < 32 {
        let run = control + 1
        guard run <= input.count - read else {
          return .failure(.corrupt("literal run past the end of the data"))
        }
        guard run <= count - written else { return .failure(.long) }
        for offset in 0..<run { output[written + offset] = input[read + offset] }
        read += run
        written += run
        continue
      }
      var length = control >> 5
      if length == 7 {
        guard read < input.count else { return .failure(.corrupt("back reference cut short")) }
        length += Int(input[read])
        read += 1
      }
      guard read < input.count else { return .failure(.corrupt("back reference cut short")) }
      let distance = ((control & 0x1F) << 8 | Int(input[read])) + 1
      read += 1
      length += 2
      guard distance <= written else {
        return .failure(.corrupt("back reference \(distance) bytes back, after only \(written) bytes"))
      }
      guard length <= count - written else { return .failure(.long) }
      for _ in 0..<length {
        output[written] = output[written - distance]
        written += 1
      }
    }
    guard written == count else { return .failure(.short(written)) }
    return .success(output)
  }
}
