import CapsFiles

/// CapsFiles' positioned reads, throwing `FormatError`s about the file.
typealias RandomAccessFile = CapsFiles.RandomAccessFile<FormatError>

extension CapsFiles.RandomAccessFile where Failure == FormatError {
  /// Opens `path` (a regular file only); reads past the end are `unexpectedContent`, others `file`.
  convenience init(path: String) throws(FormatError) {
    try self.init(path: path) { failure in
      failure.kind == .beyondEnd
        ? .unexpectedContent(path: path, reason: failure.description)
        : .file(path: path, reason: failure.description)
    }
  }
}

extension ByteReader where Failure == FormatError {
  /// A reader whose errors say "<context> is truncated (...)" about `path`.
  init(_ bytes: [UInt8], at position: Int = 0, context: String, path: String) {
    self.init(bytes, at: position) { .unexpectedContent(path: path, reason: "\(context) is \($0)") }
  }
}
