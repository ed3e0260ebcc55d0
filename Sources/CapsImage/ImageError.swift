import CapsFiles

/// An error from reading, decoding, encoding, writing or preprocessing an image.
///
/// `description` is one line naming the file (or other source) and the problem, for example
/// `digits/x.png: not a PNG file (bad signature)`.
public struct ImageError: Error, CustomStringConvertible, Equatable, Sendable {
  /// What went wrong, for programmatic handling (``CapsFiles/ErrorKind``, shared with `CapsFormat`'s
  /// errors). An image error has one of ``CapsFiles/ErrorKind/notFound``, `notRegularFile`,
  /// `io(errno:)`, `exists`, `invalidPath` (opening or writing the file), `wrongFormat` (not a PNG
  /// stream), `truncated`, `corrupt`, `limitExceeded` (``ImageLimits``), `zeroSize`, `outOfMemory`,
  /// `unsupportedSize` (``DigitPreprocessing/none``), `noDigit` (a blank image, not classified) or
  /// `invalidArgument`.
  public typealias Kind = ErrorKind

  /// The file path or other name of the image concerned.
  public var source: String
  /// The category of the problem.
  public var kind: Kind
  /// A short explanation of the problem, without the source name.
  public var detail: String

  /// Creates an error for `source` of the given kind.
  public init(source: String, kind: Kind, detail: String) {
    self.source = source
    self.kind = kind
    self.detail = detail
  }

  /// A file that could not be opened or written (``CapsFiles/FileFailure``), about `path`.
  public init(_ failure: FileFailure, path: String) {
    self.init(source: path, kind: failure.kind, detail: failure.description)
  }

  /// One line: `"<source>: <detail>"`.
  public var description: String { "\(FileName.display(source)): \(detail)" }
}
