/// Index rearrangements used by the layout converters; every mapping is exact (values are moved,
/// never computed). Public for CapsExport, which applies the inverse conversions.
public enum TensorLayoutOps {
  /// `tensor` with its axes reordered: output axis k is input axis `axes[k]` (NumPy's `transpose`).
  public static func permute(_ tensor: Tensor, axes: [Int]) -> Tensor {
    let shape = tensor.shape
    precondition(axes.sorted() == Array(shape.indices), "axes must be a permutation")
    var inputStrides = [Int](repeating: 1, count: shape.count)
    for axis in stride(from: shape.count - 2, through: 0, by: -1) {
      inputStrides[axis] = inputStrides[axis + 1] * shape[axis + 1]
    }
    let outputShape = axes.map { shape[$0] }
    let strides = axes.map { inputStrides[$0] }
    var values = [Float](repeating: 0, count: tensor.count)
    var index = [Int](repeating: 0, count: shape.count)
    var position = 0
    for k in 0..<values.count {
      values[k] = tensor.values[position]
      var axis = shape.count - 1
      while axis >= 0 {
        index[axis] += 1
        position += strides[axis]
        if index[axis] < outputShape[axis] { break }
        position -= strides[axis] * outputShape[axis]
        index[axis] = 0
        axis -= 1
      }
    }
    return Tensor(shape: outputShape, values: values)
  }

  /// Reorders the outermost axis: output row r is input row `source(r)`.
  public static func reorderRows(_ tensor: Tensor, source: (Int) -> Int) -> Tensor {
    guard let rows = tensor.shape.first, rows > 0 else { return tensor }
    let width = tensor.count / rows
    var values = [Float](repeating: 0, count: tensor.count)
    for row in 0..<rows {
      let from = source(row) * width
      for k in 0..<width { values[row * width + k] = tensor.values[from + k] }
    }
    return Tensor(shape: tensor.shape, values: values)
  }

  /// Tensors stacked along the outermost axis (`torch.cat(dim=0)`); all share the inner shape.
  static func concatenate(_ tensors: [Tensor]) -> Tensor {
    var shape = tensors[0].shape
    shape[0] = tensors.reduce(0) { $0 + $1.shape[0] }
    return Tensor(shape: shape, values: tensors.flatMap(\.values))
  }
}
