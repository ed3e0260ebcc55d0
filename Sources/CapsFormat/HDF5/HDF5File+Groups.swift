import CHDF5

/// Attributes of groups other than the root, for files whose structure lives in group attributes
/// (Keras's `layer_names` / `weight_names`).
///
/// `HDF5File` keeps its identifier private, so these functions open a second read-only identifier
/// of the same file for the duration of the call (`H5Fopen`, which shares the open file); the C
/// calls stay in this folder.
extension HDF5File {
  /// Runs `body` with a read-only file identifier, under the library lock.
  private func withReadOnlyID<T>(_ body: (hid_t) throws(HDF5Error) -> T) throws(HDF5Error) -> T {
    try HDF5Library.withLock { () throws(HDF5Error) -> T in
      let id = H5Fopen(path, capskit_acc_rdonly(), capskit_h5p_default())
      guard id >= 0 else {
        throw HDF5Error(path: path, operation: "open as HDF5", detail: HDF5Library.takeErrorStack())
      }
      defer { H5Fclose(id) }
      return try body(id)
    }
  }

  /// True when `objectPath` (e.g. `/model_weights`) names a group (`H5Lexists`, `H5Oopen`).
  func groupExists(_ objectPath: String) throws(HDF5Error) -> Bool {
    try withReadOnlyID { (id) throws(HDF5Error) -> Bool in
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
  /// is absent (`H5Aexists_by_name`, `H5Aopen_by_name`, `H5Aread`). Fixed-length strings (as h5py
  /// writes NumPy `S` arrays) and variable-length ones are both read; at most 100,000 strings.
  func stringAttribute(_ name: String, of objectPath: String) throws(HDF5Error) -> [String]? {
    try withReadOnlyID { (id) throws(HDF5Error) -> [String]? in
      func failure() -> HDF5Error {
        HDF5Error(
          path: path, operation: "read attribute '\(name)' of '\(objectPath)'",
          detail: HDF5Library.takeErrorStack())
      }
      let exists = H5Aexists_by_name(id, objectPath, name, capskit_h5p_default())
      guard exists >= 0 else { throw failure() }
      guard exists > 0 else { return nil }
      let attribute = H5Aopen_by_name(id, objectPath, name, capskit_h5p_default(), capskit_h5p_default())
      guard attribute >= 0 else { throw failure() }
      defer { H5Aclose(attribute) }
      let space = H5Aget_space(attribute)
      guard space >= 0 else { throw failure() }
      defer { H5Sclose(space) }
      let count = Int(H5Sget_simple_extent_npoints(space))
      guard count >= 0, count <= 100_000 else {
        throw HDF5Error(
          path: path, operation: "read attribute '\(name)' of '\(objectPath)'", detail: "\(count) elements")
      }
      let type = H5Aget_type(attribute)
      guard type >= 0 else { throw failure() }
      defer { H5Tclose(type) }
      guard H5Tget_class(type) == H5T_STRING else {
        throw HDF5Error(
          path: path, operation: "read attribute '\(name)' of '\(objectPath)'",
          detail: "not a string attribute")
      }
      if count == 0 { return [] }
      if H5Tis_variable_str(type) > 0 {
        let memoryType = H5Tcopy(capskit_c_s1())
        defer { H5Tclose(memoryType) }
        H5Tset_size(memoryType, capskit_h5t_variable())
        H5Tset_cset(memoryType, H5Tget_cset(type))
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        guard H5Aread(attribute, memoryType, &pointers) >= 0 else { throw failure() }
        defer { for pointer in pointers where pointer != nil { H5free_memory(pointer) } }
        return pointers.map { $0.map { String(cString: $0) } ?? "" }
      }
      let size = H5Tget_size(type)
      guard size > 0, size <= 1 << 16 else {
        throw HDF5Error(
          path: path, operation: "read attribute '\(name)' of '\(objectPath)'", detail: "string size \(size)")
      }
      var bytes = [UInt8](repeating: 0, count: size * count)
      guard H5Aread(attribute, type, &bytes) >= 0 else { throw failure() }
      return (0..<count).map { index in
        let slice = bytes[(index * size)..<((index + 1) * size)]
        return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
      }
    }
  }
}
