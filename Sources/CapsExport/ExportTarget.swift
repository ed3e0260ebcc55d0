import CapsFormat

/// The file format `capsconv export` writes.
public enum ExportFormat: String, Sendable, CaseIterable {
  /// A state_dict in HDF5, one dataset per key (the reference or gram-ai layout).
  case h5
  /// A `torch.save` ZIP archive of a state_dict (the reference or gram-ai layout).
  case pth
  /// The whole inference graph as an ONNX model (opset 17).
  case onnx
  /// XifengGuo/CapsNet-Keras's `save_weights` HDF5 structure.
  case keras

  /// The format an output file name implies (`.h5`/`.hdf5`, `.pth`/`.pt`, `.onnx`), or nil.
  public init?(fileExtensionOf path: String) {
    guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
    switch path[path.index(after: dot)...].lowercased() {
    case "h5", "hdf5": self = .h5
    case "pth", "pt": self = .pth
    case "onnx": self = .onnx
    default: return nil
    }
  }
}

/// What to write: a format and the layout of the weights in it.
public struct ExportTarget: Sendable, Equatable {
  public let format: ExportFormat
  public let layout: CheckpointLayout

  /// The target for `path`, `format` and `layout` as given on the command line: the format from
  /// the extension when not given, the layout `keras` for the Keras format and `reference`
  /// otherwise; refuses combinations that do not exist (a usage error).
  public init(path: String, format: ExportFormat?, layout: CheckpointLayout?) throws(ExportError) {
    var chosen = format ?? ExportFormat(fileExtensionOf: path)
    if chosen == .h5, layout == .keras { chosen = .keras }
    guard let chosen else {
      throw ExportError(
        kind: .usage,
        reason:
          "cannot tell the format from the name '\(path)'; use .h5, .pth or .onnx, or --format h5|pth|onnx|keras"
      )
    }
    let resolved = layout ?? (chosen == .keras ? .keras : .reference)
    switch (chosen, resolved) {
    case (.h5, .reference), (.h5, .gramAI), (.pth, .reference), (.pth, .gramAI), (.onnx, .reference),
      (.keras, .keras):
      break
    case (.pth, .keras):
      throw ExportError(
        kind: .usage,
        reason: "the keras layout is written as Keras HDF5 weights (--format keras or .h5), not .pth")
    case (.onnx, _):
      throw ExportError(
        kind: .usage, reason: "ONNX holds the inference graph, not a checkpoint layout; omit --layout")
    default:
      throw ExportError(
        kind: .usage,
        reason: "the \(chosen.rawValue) format holds the keras layout only, not \(resolved.rawValue)")
    }
    self.format = chosen
    self.layout = resolved
  }
}
