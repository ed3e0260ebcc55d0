import CapsFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Lines of bytes from a file descriptor (standard input), each at most `maxLineBytes` long: a longer
/// line is reported by its first bytes and skipped to its end without being held, so a 300 MB line
/// without a newline costs one 64 KiB buffer. A line ends at "\n" (a "\r" before it is dropped too).
struct LineReader {
  enum Line {
    /// A line without its line break.
    case line([UInt8])
    /// A line longer than the limit, skipped; `start` is its first 64 bytes.
    case tooLong(start: [UInt8])
    case failed(Int32)
    case end
  }

  let descriptor: Int32
  let maxLineBytes: Int
  private var buffer = [UInt8](repeating: 0, count: 1 << 16)
  private var start = 0
  private var end = 0
  private var finished = false

  init(descriptor: Int32, maxLineBytes: Int) {
    self.descriptor = descriptor
    self.maxLineBytes = maxLineBytes
  }

  mutating func next() -> Line {
    var line: [UInt8] = []
    var overflow: [UInt8]?
    while true {
      if start == end {
        if finished { break }
        let count = SystemCall.retryingInterrupted {
          buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        }
        if count < 0 {
          finished = true
          return .failed(errno)
        }
        if count == 0 {
          finished = true
          break
        }
        start = 0
        end = count
      }
      let newline = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n"))
      let piece = buffer[start..<(newline ?? end)]
      start = newline.map { $0 + 1 } ?? end
      if overflow == nil {
        if line.count + piece.count > maxLineBytes + 1 {
          overflow = Array((line + piece).prefix(64))
          line = []
        } else {
          line += piece
        }
      }
      if newline != nil { return finish(line, overflow) }
    }
    if line.isEmpty && overflow == nil { return .end }
    return finish(line, overflow)
  }

  private func finish(_ line: [UInt8], _ overflow: [UInt8]?) -> Line {
    if let overflow { return .tooLong(start: overflow) }
    var line = line
    if line.last == UInt8(ascii: "\r") { line.removeLast() }
    if line.count > maxLineBytes { return .tooLong(start: Array(line.prefix(64))) }
    return .line(line)
  }
}
