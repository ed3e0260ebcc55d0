/// A dense float32 tensor in row-major order, as stored in a checkpoint.
public struct Tensor: Sendable, Equatable {
  /// Extent of each axis, outermost first.
  public var shape: [Int]
  /// `shape.reduce(1, *)` values, row-major.
  public var values: [Float]

  /// Creates a tensor; `values.count` must equal the product of `shape`.
  public init(shape: [Int], values: [Float]) {
    precondition(
      shape.reduce(1, *) == values.count, "tensor shape \(shape) needs \(shape.reduce(1, *)) values")
    self.shape = shape
    self.values = values
  }

  /// Number of elements.
  public var count: Int { values.count }

  /// Counts of NaN and infinite values.
  public var nonFiniteCounts: (nan: Int, infinite: Int) {
    var nan = 0
    var infinite = 0
    for value in values where !value.isFinite {
      if value.isNaN { nan += 1 } else { infinite += 1 }
    }
    return (nan, infinite)
  }
}

/// Renders a shape the way PyTorch prints it: `[256, 1, 9, 9]`.
package func describe(shape: [Int]) -> String {
  "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
