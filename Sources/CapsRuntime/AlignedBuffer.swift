/// A fixed-size, 64-byte aligned float buffer owned by a class (freed in deinit).
final class AlignedBuffer: @unchecked Sendable {
  let count: Int
  let pointer: UnsafeMutablePointer<Float>

  /// Zero-filled storage for `count` floats.
  init(count: Int) {
    self.count = count
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
    pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    pointer.initialize(repeating: 0, count: max(count, 1))
  }

  /// A copy of `values`.
  convenience init(_ values: [Float]) {
    self.init(count: values.count)
    values.withUnsafeBufferPointer { source in
      if let base = source.baseAddress { pointer.update(from: base, count: values.count) }
    }
  }

  deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
