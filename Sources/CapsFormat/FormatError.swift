/// Why a file could not be read or written; `description` is one line naming the file and the problem.
public enum FormatError: Error, CustomStringConvertible, Sendable {
  /// An HDF5 file could not be read (not HDF5, truncated, corrupt, an unsupported feature) or
  /// written (libhdf5 failed).
  case hdf5(HDF5Error)
  /// The file is readable but its tensors do not form a valid model.
  case invalidModel(ModelValidationError)
  /// A file-system operation failed or was refused (exists, same as input, ...).
  case file(path: String, reason: String)
  /// The file is readable but is not what was asked for (e.g. not an activations file).
  case unexpectedContent(path: String, reason: String)

  /// One line naming the file and the problem.
  public var description: String {
    switch self {
    case .hdf5(let error): error.description
    case .invalidModel(let error): error.description
    case .file(let path, let reason): "\(path): \(reason)"
    case .unexpectedContent(let path, let reason): "\(path): \(reason)"
    }
  }
}

extension FormatError {
  /// Runs `body`, turning the errors of the layers below (HDF5, validation, anything else) into
  /// `FormatError`s about `path`.
  static func mapping<T>(path: String, _ body: () throws -> T) throws(FormatError) -> T {
    do {
      return try body()
    } catch let error as FormatError {
      throw error
    } catch let error as HDF5Error {
      throw .hdf5(error)
    } catch let error as ModelValidationError {
      throw .invalidModel(error)
    } catch {
      throw .file(path: path, reason: "\(error)")
    }
  }
}
