import Foundation

/// Shape and stored element type of one tensor, known before its values are read.
struct TensorInfo: Sendable {
  var shape: [Int]
  var storedType: StoredScalarType
}

/// Where a checkpoint's tensors come from: an HDF5 file, a `.pth` archive, or a converted layout.
/// `ModelFile` canonicalises the names, infers the configuration and validates through this.
protocol TensorSource {
  /// The file the tensors come from, for messages.
  var path: String { get }
  /// Every tensor's name as stored (before canonicalisation).
  func tensorNames() throws -> [String]
  func tensorInfo(_ name: String) throws -> TensorInfo
  /// The values, converted to Float; refuses more than `maxCount` elements before allocating.
  func readTensor(_ name: String, maxCount: Int) throws -> Tensor
  /// CapsKit metadata carried by the source, or nil.
  func metadataAttributes() throws -> MetadataAttributes?
}

extension HDF5File: TensorSource {
  func tensorNames() throws -> [String] { try datasetPaths(maxDepth: 1) }

  func tensorInfo(_ name: String) throws -> TensorInfo {
    let info = try datasetInfo(name)
    return TensorInfo(shape: info.shape, storedType: info.storedType)
  }

  func readTensor(_ name: String, maxCount: Int) throws -> Tensor {
    let (shape, values) = try read(name, as: Float.self, maxCount: maxCount)
    return Tensor(shape: shape, values: values)
  }

  func metadataAttributes() throws -> MetadataAttributes? { try MetadataAttributes.read(from: self) }
}

/// The tensors of a converted layout: each known by its shape and stored type before anything is
/// read, and read (and converted) only when asked for, after `ModelFile` has checked every shape
/// against the configuration. Tensors the model does not use are never read.
struct ConvertedTensorSource: TensorSource {
  struct Entry {
    var info: TensorInfo
    /// Reads and converts the tensor; called with the element limit, after the shape passed it.
    var read: (_ maxCount: Int) throws -> Tensor
  }

  var path: String
  var entries: [String: Entry]
  var metadata: MetadataAttributes?

  func tensorNames() -> [String] { entries.keys.sorted() }

  private func entry(_ name: String) throws -> Entry {
    guard let entry = entries[name] else {
      throw FormatError.unexpectedContent(path: path, reason: "no tensor '\(name)'")
    }
    return entry
  }

  func tensorInfo(_ name: String) throws -> TensorInfo { try entry(name).info }

  func readTensor(_ name: String, maxCount: Int) throws -> Tensor {
    let entry = try entry(name)
    _ = try TensorElementCount.checked(entry.info.shape, limit: maxCount, name: name, path: path)
    return try entry.read(maxCount)
  }

  func metadataAttributes() -> MetadataAttributes? { metadata }
}
