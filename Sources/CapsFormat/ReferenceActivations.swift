/// Per-stage outputs of a reference implementation for a few inputs (docs/FORMAT.md,
/// "Reference activations"), as written by `Tools/fixtures/make_activations.py`.
public struct ReferenceActivations: Sendable {
  /// The file read.
  public let path: String
  /// Number of images.
  public let count: Int
  /// Routing iterations the reference ran.
  public let routingIterations: Int
  /// Raw pixels, `count * size * size` values on the 0...255 scale (stored as uint8 or float32).
  public let pixels: Tensor
  /// MNIST indices and true labels of the images (empty when absent).
  public let indices: [Int]
  /// True labels of the images (empty when absent).
  public let labels: [Int]
  /// The reference's predicted class per image.
  public let predictions: [Int]
  /// Stage outputs by dataset name (`input`, `conv1`, `conv2`, `primary`, `u_hat`, `coupling`,
  /// `digit_caps`, `lengths`, `reconstruction`); image is the first axis, except `coupling`,
  /// which is [iterations, count, inputs, outputs].
  public let stages: [String: Tensor]

  /// Dataset names of the stages, in forward order.
  public static let stageNames = [
    "input", "conv1", "conv2", "primary", "u_hat", "coupling", "digit_caps", "lengths", "reconstruction",
  ]

  /// Most images a reference file may hold (its stages are compared in memory).
  public static let maxImages = 10_000

  /// Reads an activations file; refuses one that is not (`format` attribute) or lacks pixels, and
  /// one whose declared sizes (more than `maxImages` images, stages that disagree with the image
  /// count) are wrong, before reading any values.
  public static func read(at path: String, maxElements: Int = 1 << 28) throws(FormatError)
    -> ReferenceActivations
  {
    try FormatError.mapping(path: path) {
      let file = try HDF5File.open(path: path)
      guard case .strings(let format)? = try file.attribute("format"), format.first == "capskit-activations"
      else {
        throw FormatError(
          .unexpectedContent, path: path,
          detail: "not a reference-activations file (root attribute format != 'capskit-activations')")
      }
      let names = Set(try file.datasetPaths(maxDepth: 0))
      func integers(_ name: String) throws(HDF5Error) -> [Int] {
        guard names.contains(name) else { return [] }
        return try file.read(name, as: Int64.self, maxCount: maxElements).values.map { Int($0) }
      }
      guard names.contains("pixels"), names.contains("prediction") else {
        throw FormatError(.unexpectedContent, path: path, detail: "missing dataset 'pixels' or 'prediction'")
      }
      guard let count = try file.datasetInfo("pixels").shape.first, count > 0 else {
        throw FormatError(
          .unexpectedContent, path: path, detail: "dataset 'pixels' is empty", tensor: "pixels")
      }
      guard count <= maxImages else {
        throw FormatError(
          .limitExceeded, path: path,
          detail: "dataset 'pixels' holds \(count) images, more than the \(maxImages) accepted",
          tensor: "pixels")
      }
      // Every stage has the image count on its image axis, checked from the declared shapes.
      for name in stageNames + ["prediction"] where names.contains(name) {
        let shape = try file.datasetInfo(name).shape
        let imageAxis = name == "coupling" ? 1 : 0
        guard shape.count > imageAxis, shape[imageAxis] == count else {
          throw FormatError(
            .unexpectedContent, path: path,
            detail: "'\(name)' has shape \(describe(shape: shape)), expected \(count) images", tensor: name)
        }
      }
      // uint8, or float32 for images whose decoded values are not integers (16-bit PNGs).
      let (pixelShape, pixelValues) = try file.read("pixels", as: Float.self, maxCount: maxElements)
      if let bad = pixelValues.firstIndex(where: { !(0...255).contains($0) }) {
        throw FormatError(
          .unexpectedContent, path: path,
          detail: "'pixels' value \(pixelValues[bad]) at flat index \(bad) is outside 0...255",
          tensor: "pixels")
      }
      var stages: [String: Tensor] = [:]
      for name in stageNames where names.contains(name) {
        let (shape, values) = try file.read(name, as: Float.self, maxCount: maxElements)
        stages[name] = Tensor(shape: shape, values: values)
      }
      var iterations = stages["coupling"]?.shape.first ?? 3
      if case .integers(let stored)? = try file.attribute("routing_iterations"), let first = stored.first {
        iterations = Int(first)
      }
      let predictions = try integers("prediction")
      guard predictions.count == count else {
        throw FormatError(
          .unexpectedContent, path: path,
          detail: "'prediction' has \(predictions.count) entries for \(count) images", tensor: "prediction")
      }
      for (name, tensor) in stages {
        let imageAxis = name == "coupling" ? 1 : 0
        guard tensor.shape.count > imageAxis, tensor.shape[imageAxis] == count else {
          throw FormatError(
            .unexpectedContent, path: path,
            detail: "'\(name)' has shape \(describe(shape: tensor.shape)), expected \(count) images",
            tensor: name)
        }
      }
      return ReferenceActivations(
        path: path, count: count, routingIterations: iterations,
        pixels: Tensor(shape: pixelShape, values: pixelValues),
        indices: try integers("indices"),
        labels: try integers("labels"), predictions: predictions, stages: stages)
    }
  }
}
