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
  /// As `readTensor(_:maxCount:)`; when `allowNonFinite` is false the source may refuse NaN or
  /// infinite values before it has read (or allocated) the whole tensor.
  func readTensor(_ name: String, maxCount: Int, allowNonFinite: Bool) throws -> Tensor
  /// Entries that look like tensors but were not listed (external links, ...), in words.
  func unlistedEntries() -> [String]
}

extension TensorSource {
  func readTensor(_ name: String, maxCount: Int, allowNonFinite: Bool) throws -> Tensor {
    try readTensor(name, maxCount: maxCount)
  }

  func unlistedEntries() -> [String] { [] }
}

extension HDF5File: TensorSource {
  /// Datasets in nested groups too (`conv1/weight`), which `ModelFile` maps to dotted keys.
  func tensorNames() throws -> [String] { try datasetPaths(maxDepth: HDF5File.maxListingDepth) }

  func unlistedEntries() -> [String] { unlistedLinks }

  func tensorInfo(_ name: String) throws -> TensorInfo {
    let info = try datasetInfo(name)
    return TensorInfo(shape: info.shape, storedType: info.storedType)
  }

  func readTensor(_ name: String, maxCount: Int) throws -> Tensor {
    try readTensor(name, maxCount: maxCount, allowNonFinite: true)
  }

  func readTensor(_ name: String, maxCount: Int, allowNonFinite: Bool) throws -> Tensor {
    let (shape, values) = try read(name, as: Float.self, maxCount: maxCount, refuseNonFinite: !allowNonFinite)
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
      throw FormatError(.unexpectedContent, path: path, detail: "no tensor '\(name)'")
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
