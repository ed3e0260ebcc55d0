import CapsFiles

/// The tools' hint on a refusal to replace an existing file: the libraries give such a refusal the
/// kind ``CapsFiles/ErrorKind/exists`` and say only "already exists", naming no command-line option.
public enum ForceHint {
  /// `message` followed by " (use --force to replace it)" when the error's `kind` is
  /// ``CapsFiles/ErrorKind/exists``; `message` otherwise.
  public static func adding(to message: String, kind: ErrorKind) -> String {
    kind == .exists ? message + " (use --force to replace it)" : message
  }
}
