/// A failure to read an HDF5 file (from CapsKit's parser) or to write one (from libhdf5's error
/// stack), with the file and the operation.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
  /// The file being read or written.
  public let path: String
  /// What we were doing, e.g. "open dataset 'conv1.weight'".
  public let operation: String
  /// What was wrong, on one line (for libhdf5, its error stack, innermost first).
  public let detail: String

  /// An error about `path` while doing `operation` (the reader's and CapsHDF5Writer's).
  package init(path: String, operation: String, detail: String) {
    self.path = path
    self.operation = operation
    self.detail = detail
  }

  /// One line: file, operation and HDF5's reason.
  public var description: String {
    detail.isEmpty ? "\(path): cannot \(operation)" : "\(path): cannot \(operation) (\(detail))"
  }
}
