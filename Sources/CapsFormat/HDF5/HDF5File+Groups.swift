import CHDF5

/// Attributes of groups other than the root, for files whose structure lives in group attributes
/// (Keras's `layer_names` / `weight_names`).
///
/// The C calls stay in this folder.
extension HDF5File {

  /// True when `objectPath` (e.g. `/model_weights`) names a group (`H5Lexists`, `H5Oopen`).
  func groupExists(_ objectPath: String) throws(HDF5Error) -> Bool {
    HDF5Library.withLock { () -> Bool in
      let id = fileID
      // Check each link on the way, as H5Lexists requires.
      var prefix = ""
      for component in objectPath.split(separator: "/") {
        prefix += "/" + component
        guard H5Lexists(id, prefix, capskit_h5p_default()) > 0 else {
          H5Eclear2(capskit_h5e_default())
          return false
        }
      }
      let object = H5Oopen(id, objectPath, capskit_h5p_default())
      guard object >= 0 else {
        H5Eclear2(capskit_h5e_default())
        return false
      }
      defer { H5Oclose(object) }
      return H5Iget_type(object) == H5I_GROUP
    }
  }

  /// The string array attribute `name` of the object at `objectPath`, or nil when the attribute
  /// is absent. Fixed-length strings (as h5py writes NumPy `S` arrays) and variable-length ones are
  /// both read; at most 100,000 strings.
  func stringAttribute(_ name: String, of objectPath: String) throws(HDF5Error) -> [String]? {
    switch try attribute(name, of: objectPath) {
    case nil: return nil
    case .strings(let values)?: return values
    default:
      throw HDF5Error(
        path: path, operation: "read attribute '\(name)' of '\(objectPath)'", detail: "not a string attribute"
      )
    }
  }
}
