/// Everything wrong with a checkpoint, reported at once on one line: each problem with a matchable
/// kind and the tensor it concerns (its kind as a whole is `ErrorKind.invalidModel`, which
/// ``FormatError`` gives it).
public struct ModelValidationError: Error, CustomStringConvertible, Sendable {
  /// One thing wrong with the tensors or the settings.
  public struct Problem: Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, for programmatic handling.
    public enum Kind: Hashable, Sendable {
      /// A tensor the architecture needs is absent.
      case missingTensor
      /// A tensor the architecture does not use.
      case unexpectedTensor
      /// A tensor's shape differs from the one the architecture gives it.
      case wrongShape
      /// A tensor is not of a floating-point type.
      case wrongType
      /// A tensor holds NaN or infinite values.
      case nonFinite
      /// The architecture the shapes (and size attributes) describe is not a valid capsule network
      /// (a size out of range, no capsule grid, parts that do not fit together).
      case invalidConfiguration
      /// An inference setting is out of range or disagrees with the tensors (routing, normalisation,
      /// labels, metadata attributes).
      case invalidMetadata
      /// Not a problem by itself: what the file holds instead, listed beside missing tensors (links
      /// not followed, the tensors found).
      case note
    }

    /// The category of the problem.
    public var kind: Kind
    /// The tensor concerned (a reference key, or the file's own name for it), where there is one.
    public var tensor: String?
    /// The problem in words, naming the tensor, what was expected and what was found.
    public var message: String

    public init(_ kind: Kind, _ message: String, tensor: String? = nil) {
      self.kind = kind
      self.message = message
      self.tensor = tensor
    }

    /// "missing tensor '<key>'".
    public static func missingTensor(_ key: String) -> Problem {
      Problem(.missingTensor, "missing tensor '\(key)'", tensor: key)
    }

    /// "unexpected tensor '<key>'".
    public static func unexpectedTensor(_ key: String) -> Problem {
      Problem(.unexpectedTensor, "unexpected tensor '\(key)'", tensor: key)
    }

    public var description: String { message }
  }

  /// The file (or other source) that was checked.
  public let origin: String
  /// Each problem, in the order found.
  public let problems: [Problem]

  /// An error listing `problems` found in `origin`.
  public init(origin: String, problems: [Problem]) {
    self.origin = origin
    self.problems = problems
  }

  /// An error listing `messages` found in `origin`, each a problem of `kind`.
  public init(origin: String, messages: [String], kind: Problem.Kind) {
    self.init(origin: origin, problems: messages.map { Problem(kind, $0) })
  }

  /// The problems' messages.
  public var messages: [String] { problems.map(\.message) }

  /// Problems listed by `description`; the others are counted.
  public static let listedProblems = 8

  /// One line: the origin, then the first ``listedProblems`` problems separated by "; " and the
  /// number of the others ("; and 3,992 more problems"), so that thousands of missing layers or
  /// extra tensors make a short line (the whole list stays in `problems`).
  public var description: String {
    var text = "\(origin): " + messages.prefix(Self.listedProblems).joined(separator: "; ")
    let more = problems.count - Self.listedProblems
    if more > 0 { text += "; and \(more) more \(more == 1 ? "problem" : "problems")" }
    return text
  }
}
