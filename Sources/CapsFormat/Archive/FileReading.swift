import CapsFiles

/// CapsFiles' positioned reads, throwing `FormatError`s about the file.
typealias RandomAccessFile = CapsFiles.RandomAccessFile<FormatError>

extension CapsFiles.RandomAccessFile where Failure == FormatError {
  /// Opens `path` (a regular file only); its errors have the kind of the ``CapsFiles/ReadFailure``
  /// (reads past the end are ``CapsFiles/ErrorKind/truncated``).
  convenience init(path: String) throws(FormatError) {
    try self.init(path: path) { failure in
      FormatError(failure.errorKind, path: path, detail: failure.description)
    }
  }
}

extension ByteReader where Failure == FormatError {
  /// A reader whose errors say "<context> is truncated (...)" about `path`, of kind
  /// ``CapsFiles/ErrorKind/corrupt``: the structure was read whole, so a field past its end is a
  /// malformed structure (a file that ends early is found before, by its size).
  init(_ bytes: [UInt8], at position: Int = 0, context: String, path: String) {
    self.init(bytes, at: position) { FormatError(.corrupt, path: path, detail: "\(context) is \($0)") }
  }
}
