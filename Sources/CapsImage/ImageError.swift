import CapsFiles

/// An error from reading, decoding, encoding, writing or preprocessing an image.
///
/// `description` is one line naming the file (or other source) and the problem, for example
/// `digits/x.png: not a PNG file (bad signature)`.
public struct ImageError: Error, CustomStringConvertible, Equatable, Sendable {
  /// What went wrong, for programmatic handling.
  public enum Kind: Equatable, Sendable {
    /// The file could not be opened or read.
    case unreadable
    /// The file could not be written (or renamed into place).
    case unwritable
    /// The data is not a PNG stream (wrong signature, or empty).
    case notPNG
    /// The PNG stream ends early.
    case truncated
    /// The PNG stream is malformed (bad CRC, bad chunk, bad compressed data, invalid header, ...).
    case corrupt
    /// The image has zero width or height.
    case zeroSize
    /// The image or file exceeds the configured ``ImageLimits``.
    case tooLarge
    /// Memory could not be allocated.
    case outOfMemory
    /// The image size is not accepted by the requested preprocessing (``DigitPreprocessing/none``).
    case unsupportedSize
    /// Preprocessing found no digit: the image is blank (uniform, or only noise and specks once the
    /// background is removed). The file is not classified.
    case noDigit
    /// An argument was invalid (pixel count mismatch, non-positive size, ...).
    case invalidArgument
  }

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

  /// One line: `"<source>: <detail>"`.
  public var description: String { "\(FileName.display(source)): \(detail)" }
}
