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

/// Tensors already in memory (a converted layout, a decoded archive), with optional metadata.
struct InMemoryTensorSource: TensorSource {
  var path: String
  var tensors: [String: Tensor]
  var storedTypes: [String: StoredScalarType] = [:]
  var metadata: MetadataAttributes?

  func tensorNames() -> [String] { tensors.keys.sorted() }

  func tensorInfo(_ name: String) throws -> TensorInfo {
    guard let tensor = tensors[name] else {
      throw FormatError.unexpectedContent(path: path, reason: "no tensor '\(name)'")
    }
    return TensorInfo(shape: tensor.shape, storedType: storedTypes[name] ?? .float(bits: 32))
  }

  func readTensor(_ name: String, maxCount: Int) throws -> Tensor {
    guard let tensor = tensors[name] else {
      throw FormatError.unexpectedContent(path: path, reason: "no tensor '\(name)'")
    }
    return tensor
  }

  func metadataAttributes() -> MetadataAttributes? { metadata }
}
