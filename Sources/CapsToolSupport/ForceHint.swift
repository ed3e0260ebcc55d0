import CapsFiles

/// The tools' hint on a refusal to replace an existing file: the libraries say only "already
/// exists" (``CapsFiles/AtomicReplacement/alreadyExists``) and name no command-line option.
public enum ForceHint {
  /// `message` followed by " (use --force to replace it)" when `reason` is the libraries'
  /// "already exists"; `message` otherwise.
  public static func adding(to message: String, reason: String) -> String {
    reason == AtomicReplacement.alreadyExists ? message + " (use --force to replace it)" : message
  }
}
