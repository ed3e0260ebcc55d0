import CapsFiles

/// An error from reading, decoding, encoding, writing or preprocessing an image.
///
/// `description` is one line naming the file (or other source) and the problem, for example
/// `digits/x.png: not a PNG file (bad signature)`.
public struct ImageError: Error, CustomStringConvertible, Equatable, Sendable {
  /// What went wrong, for programmatic handling. The file and format kinds have the names and
  /// meanings of `CapsFormat`'s `FormatError.Kind` (docs/RELIABILITY.md, "Error kinds"); the last
  /// five are particular to images.
  public enum Kind: Hashable, Sendable {
    /// The file (or the folder it should be written to) does not exist.
    case notFound
    /// The path names a FIFO, a device, a socket or a directory, where a regular file is needed.
    case notRegularFile
    /// A system call failed reading or writing the file (`errno`; nil when libpng's reader does not
    /// say).
    case io(errno: Int32?)
    /// The output file exists and replacing it was not asked for.
    case exists
    /// The path cannot name a file (empty name, `.`, `..`).
    case invalidPath
    /// The data is not a PNG stream (wrong signature, another image format, or empty).
    case wrongFormat
    /// The PNG stream ends early.
    case truncated
    /// The PNG stream is malformed (bad CRC, bad chunk, bad compressed data, invalid header, ...).
    case corrupt
    /// The image or file exceeds the configured ``ImageLimits`` (or PNG's own limits, writing).
    case limitExceeded
    /// The image has zero width or height.
    case zeroSize
    /// Memory could not be allocated.
    case outOfMemory
    /// The image size is not accepted by the requested preprocessing (``DigitPreprocessing/none``).
    case unsupportedSize
    /// Preprocessing found no digit: the image is blank (uniform, or only noise and specks once the
    /// background is removed). The file is not classified.
    case noDigit
    /// An argument was invalid (pixel count mismatch, non-positive size, ...).
    case invalidArgument

    /// The kind of a file-system failure.
    public init(_ kind: FileFailure.Kind) {
      switch kind {
      case .notFound: self = .notFound
      case .notRegularFile: self = .notRegularFile
      case .exists: self = .exists
      case .invalidPath: self = .invalidPath
      case .io(let code): self = .io(errno: code)
      }
    }
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

  /// A file that could not be opened or written (``CapsFiles/FileFailure``), about `path`.
  public init(_ failure: FileFailure, path: String) {
    self.init(source: path, kind: Kind(failure.kind), detail: failure.description)
  }

  /// One line: `"<source>: <detail>"`.
  public var description: String { "\(FileName.display(source)): \(detail)" }
}
