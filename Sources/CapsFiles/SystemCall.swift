#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// System calls retried when a signal interrupts them: the one EINTR loop of CapsKit.
package enum SystemCall {
  /// Runs `call` again while it fails with EINTR; returns its first other result (errno is that
  /// call's when the result is negative).
  package static func retryingInterrupted<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
      let result = call()
      if result < 0, errno == EINTR { continue }
      return result
    }
  }
}
