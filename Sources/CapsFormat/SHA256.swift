internal import CSHA256
import CapsFiles
import Foundation

/// SHA-256, used to record which file a model was imported from (the C implementation in CSHA256).
struct SHA256 {
  private var context = caps_sha256_context()

  init() { caps_sha256_init(&context) }

  mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { caps_sha256_update(&context, $0.baseAddress, $0.count) }
  }

  mutating func update(_ data: Data) {
    data.withUnsafeBytes { caps_sha256_update(&context, $0.baseAddress, $0.count) }
  }

  /// The digest as lowercase hex; the hasher must not be used afterwards.
  mutating func finalize() -> String {
    var digest = [UInt8](repeating: 0, count: 32)
    caps_sha256_final(&context, &digest)
    return digest.map { byte in
      let hex = String(byte, radix: 16)
      return byte < 16 ? "0" + hex : hex
    }.joined()
  }

  /// Hex digest of a whole file, read in 1 MiB pieces; nil (with nothing read) when the file holds
  /// more than `limit` bytes, or grows past it while being read. Only a regular file is opened.
  static func hexDigest(ofFile path: String, limit: Int = .max) throws(FormatError) -> String? {
    let handle: FileHandle
    switch ReadableFile.open(path) {
    case .success(let file): handle = FileHandle(fileDescriptor: file.descriptor, closeOnDealloc: true)
    case .failure(let failure): throw FormatError(failure, path: path)
    }
    defer { try? handle.close() }
    var status = stat()
    guard fstat(handle.fileDescriptor, &status) == 0 else {
      throw FormatError(.io(errno: errno), path: path, detail: "cannot read its size")
    }
    guard Int(status.st_size) <= limit else { return nil }
    var hasher = SHA256()
    var total = 0
    while true {
      let chunk: Data
      do {
        chunk = try handle.read(upToCount: 1 << 20) ?? Data()
      } catch {
        let code = (error as NSError).domain == NSPOSIXErrorDomain ? Int32((error as NSError).code) : nil
        throw FormatError(.io(errno: code), path: path, detail: "cannot read: \(error.localizedDescription)")
      }
      if chunk.isEmpty { break }
      total += chunk.count
      guard total <= limit else { return nil }
      hasher.update(chunk)
    }
    return hasher.finalize()
  }
}
