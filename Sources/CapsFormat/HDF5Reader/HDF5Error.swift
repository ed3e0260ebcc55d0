/// A failure to read an HDF5 file (from CapsKit's parser) or to write one (from libhdf5's error
/// stack): a matchable ``kind`` (the vocabulary of ``FormatError/Kind``), the file, the operation,
/// and the dataset and byte offset where they are known.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
  /// The category of the problem, as in ``FormatError``.
  public typealias Kind = FormatError.Kind

  /// The category of the problem.
  public let kind: Kind
  /// The file being read or written.
  public let path: String
  /// What we were doing, e.g. "open dataset 'conv1.weight'".
  public let operation: String
  /// What was wrong, on one line (for libhdf5, its error stack, innermost first).
  public let detail: String
  /// The dataset concerned, where known.
  public let dataset: String?
  /// The absolute byte offset in the file where the problem lies, where known.
  public let offset: Int?

  /// An error of `kind` (package-wide: the reader and the libhdf5 writer make them).
  package init(
    _ kind: Kind, path: String, operation: String, detail: String, dataset: String? = nil, offset: Int? = nil
  ) {
    self.kind = kind
    self.path = path
    self.operation = operation
    self.detail = detail
    self.dataset = dataset
    self.offset = offset
  }

  /// The same error, reported as a failure of `operation`.
  func during(_ operation: String) -> HDF5Error {
    HDF5Error(kind, path: path, operation: operation, detail: detail, dataset: dataset, offset: offset)
  }

  /// The same error, about `dataset` unless it names one already.
  func about(dataset name: String) -> HDF5Error {
    HDF5Error(
      kind, path: path, operation: operation, detail: detail, dataset: dataset ?? name, offset: offset)
  }

  /// One line: file, operation and HDF5's reason.
  public var description: String {
    detail.isEmpty ? "\(path): cannot \(operation)" : "\(path): cannot \(operation) (\(detail))"
  }
}
