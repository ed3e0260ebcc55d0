internal import CHDF5
import CapsFormat
import Foundation

/// Process-wide access to libhdf5.
///
/// The Debian build of libhdf5 is not thread-safe, so every call into it runs under one lock.
/// Automatic error printing is switched off once; HDF5's error stack is read into `HDF5Error`.
enum HDF5Library {
  private static let lock = NSRecursiveLock()
  nonisolated(unsafe) private static var initialized = false

  /// Runs `body` with exclusive access to libhdf5.
  static func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    lock.lock()
    defer { lock.unlock() }
    if !initialized {
      H5open()
      initialized = true
    }
    // Thread-safe builds keep this setting per thread, so it is applied on every entry.
    H5Eset_auto2(capskit_h5e_default(), nil, nil)
    return try body()
  }

  /// The innermost messages of HDF5's current error stack, joined into one line, then cleared.
  static func takeErrorStack() -> String {
    final class Collector { var messages: [String] = [] }
    let collector = Collector()
    let walker: H5E_walk2_t = { _, description, context in
      guard let description, let context else { return 0 }
      let collector = Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue()
      if let text = description.pointee.desc, text.pointee != 0 {
        collector.messages.append(String(cString: text))
      }
      return 0
    }
    withExtendedLifetime(collector) {
      _ = H5Ewalk2(
        capskit_h5e_default(), H5E_WALK_UPWARD, walker,
        Unmanaged.passUnretained(collector).toOpaque())
    }
    H5Eclear2(capskit_h5e_default())
    var seen = Set<String>()
    let unique = collector.messages.filter { seen.insert($0).inserted }
    return unique.prefix(3).joined(separator: ": ")
  }
}
