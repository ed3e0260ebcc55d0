/// Why an export was refused or failed: a matchable kind and a one-line reason.
public struct ExportError: Error, CustomStringConvertible, Sendable, Equatable {
  public enum Kind: Sendable, Equatable {
    /// The format and layout asked for do not go together (`--format onnx --layout keras`), or the
    /// format cannot be told from the output's extension. A usage error (exit 64).
    case usage
    /// The target layout cannot express the model (list in `reason`); nothing was written.
    case cannotExpress
    /// The file would pass a limit of its format (a ZIP without ZIP64 records, protobuf's 2 GiB).
    case tooLarge
    /// Writing failed (the output exists, its folder does not, the disk is full, ...).
    case file
  }

  public let kind: Kind
  public let reason: String

  public init(kind: Kind, reason: String) {
    self.kind = kind
    self.reason = reason
  }

  public var description: String { reason }
}
