/// Why a model could not be verified against a reference-activations file (before any stage is
/// compared; a stage outside its tolerance is a ``ParityCheck/Report`` that did not pass, not an
/// error). `description` is one line naming the reference file and the problem.
public struct VerificationError: Error, CustomStringConvertible, Sendable {
  /// What went wrong, to match on.
  public enum Kind: Sendable, Equatable {
    /// The reference's images are not the model's input shape.
    case inputShapeDiffers
    /// The reference was made with another number of routing iterations than the model uses.
    case routingIterationsDiffer
    /// The plan for the reference's batch exceeds the runtime's bounds (threads, batch, arena).
    case planTooLarge
  }

  public let kind: Kind
  /// The reference-activations file.
  public let path: String
  /// The tensor of the reference the problem is about, when there is one.
  public let tensor: String?
  /// What was found and what the model expects.
  public let detail: String
  /// The error of the layer below (for `planTooLarge`, the plan's), if any.
  public let underlying: (any Error & Sendable)?

  public init(
    _ kind: Kind, path: String, detail: String, tensor: String? = nil,
    underlying: (any Error & Sendable)? = nil
  ) {
    self.kind = kind
    self.path = path
    self.detail = detail
    self.tensor = tensor
    self.underlying = underlying
  }

  public var description: String { "\(path): \(detail)" }
}
