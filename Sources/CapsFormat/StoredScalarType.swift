/// What a dataset stores on disk, as far as the model reader cares.
public enum StoredScalarType: Sendable, Equatable, CustomStringConvertible {
  case float(bits: Int)
  case integer(bits: Int, signed: Bool)
  case other(String)

  /// The NumPy-style name, e.g. "float32", "int64".
  public var description: String {
    switch self {
    case .float(let bits): "float\(bits)"
    case .integer(let bits, let signed): signed ? "int\(bits)" : "uint\(bits)"
    case .other(let name): name
    }
  }
}
