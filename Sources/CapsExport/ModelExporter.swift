import CapsFiles
import CapsFormat
import CapsHDF5Writer

/// Writes a model in another format or layout (`capsconv export`): a state_dict in HDF5 or
/// `.pth` (reference or gram-ai layout), Keras `save_weights` HDF5, or an ONNX inference graph.
/// Every file is written atomically (``CapsFormat/AtomicFile``): a temporary file renamed into
/// place, nothing left behind on error, an existing file replaced only with `overwrite`.
public enum ModelExporter {
  /// What was written, and what the file does not carry.
  public struct Report: Sendable {
    /// Tensors (or ONNX initializers) written.
    public var tensorCount: Int
    /// Size of the file in bytes.
    public var byteCount: Int
    /// Differences accepted with `allowDifferences`: what the target's code computes otherwise.
    public var warnings: [String]
    /// What the file does not carry and how to restore it on import.
    public var notes: [String]
  }

  /// Writes `model` to `path` as `target`.
  ///
  /// - Parameter allowDifferences: Write a gram-ai or Keras file even where that implementation
  ///   computes differently from this model (softmax axis, squash epsilon, normalisation, ...);
  ///   the differences are returned as warnings. Without it they refuse the export.
  @discardableResult
  public static func export(
    _ model: CapsModel, to path: String, target: ExportTarget, overwrite: Bool, allowDifferences: Bool = false
  ) throws(ExportError) -> Report {
    let bytes = try encode(model, target: target, path: path, allowDifferences: allowDifferences)
    do {
      try AtomicFile.write(bytes.data, to: path, overwrite: overwrite)
    } catch {
      throw ExportError(kind: .file, reason: error.description)
    }
    return Report(
      tensorCount: bytes.tensorCount, byteCount: bytes.data.count, warnings: bytes.warnings,
      notes: bytes.notes)
  }

  /// The bytes of the file `export` writes (nothing touches the disk).
  public static func encode(
    _ model: CapsModel, target: ExportTarget, path: String, allowDifferences: Bool = false
  ) throws(ExportError) -> (data: [UInt8], tensorCount: Int, warnings: [String], notes: [String]) {
    var warnings: [String] = []
    var notes: [String] = []
    if target.format != .onnx {
      let compatibility = LayoutCompatibility(model: model, layout: target.layout)
      if !compatibility.differences.isEmpty, !allowDifferences {
        throw ExportError(
          kind: .cannotExpress,
          reason:
            "\(target.layout.implementation) cannot express this model: "
            + compatibility.differences.joined(separator: "; ")
            + " (--allow-differences writes it anyway)")
      }
      if target.layout != .reference, compatibility.losesStructure {
        throw ExportError(
          kind: .cannotExpress,
          reason:
            "a \(target.layout.rawValue) file cannot carry this model: "
            + compatibility.notes.filter { $0.hasPrefix("the ") }.joined(separator: "; "))
      }
      warnings = compatibility.differences
      notes = compatibility.notes
    }
    do {
      switch target.format {
      case .h5:
        let tensors = target.layout == .gramAI ? LayoutTensors.gramAI(model) : LayoutTensors.reference(model)
        let file = try HDF5Writer.createInMemory(path: path)
        for (key, tensor) in tensors { try file.write(key, shape: tensor.shape, floats: tensor.values) }
        return (try file.fileImage(), tensors.count, warnings, notes)
      case .pth:
        let tensors = target.layout == .gramAI ? LayoutTensors.gramAI(model) : LayoutTensors.reference(model)
        return (try TorchArchive.bytes(tensors: tensors), tensors.count, warnings, notes)
      case .keras:
        let layers = LayoutTensors.keras(model)
        return (
          try KerasWeightsFile.bytes(layers: layers, path: path), layers.reduce(0) { $0 + $1.weights.count },
          warnings, notes
        )
      case .onnx:
        let graph = try ONNXExport.model(model)
        return (try ONNXExport.serialize(graph), model.orderedKeys.count, warnings, notes)
      }
    } catch let error as HDF5Error {
      throw ExportError(kind: .file, reason: error.description)
    } catch let error as ExportError {
      throw error
    } catch {
      throw ExportError(kind: .file, reason: "\(path): \(error)")
    }
  }
}
