import CapsFiles

/// Writes a file atomically (``CapsFiles/AtomicReplacement``): the content goes to a temporary file
/// in the destination's folder, is flushed to disk, then takes the destination's name in one step.
/// On any error the temporary file is removed and the destination is untouched; only a regular file
/// is ever replaced.
public enum AtomicFile {
  /// Writes `bytes` to `path` atomically.
  public static func write(_ bytes: [UInt8], to path: String, overwrite: Bool) throws(FormatError) {
    try write(to: path, overwrite: overwrite) { (temporary: String) throws(FormatError) in
      if let failure = AtomicReplacement.writeBytes(bytes, toNew: temporary) {
        throw FormatError(failure, path: path)
      }
    }
  }

  /// Writes through `produce`, which receives the temporary path and must create that file.
  ///
  /// - Parameters:
  ///   - path: The destination.
  ///   - overwrite: Replace an existing destination (a regular file only); when false an existing
  ///     file is an error, also if it appears while writing.
  public static func write(
    to path: String, overwrite: Bool, produce: (String) throws(FormatError) -> Void
  ) throws(FormatError) {
    try AtomicReplacement.write(
      to: path, overwrite: overwrite, failure: { FormatError($0, path: path) }, produce: produce)
  }
}
