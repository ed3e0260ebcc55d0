import CHDF5
import Foundation

/// Shape and stored type of one dataset, read without reading its values.
struct HDF5DatasetInfo: Sendable {
  var path: String
  var shape: [Int]
  var storedType: StoredScalarType
  /// Bytes the dataset occupies in the file (after compression).
  var storageByteCount: Int
}

/// An open HDF5 file: the one place that calls libhdf5 (`H5F*`, `H5D*`, `H5A*`, `H5S*`, `H5T*`).
///
/// Every method takes the library lock; identifiers never leave this type.
final class HDF5File {
  let path: String
  private var handle: HDF5Handle?

  private init(path: String, id: hid_t) {
    self.path = path
    self.handle = HDF5Handle(id, close: H5Fclose)
  }

  /// Opens an existing file read-only (`H5Fopen`).
  static func open(path: String) throws(HDF5Error) -> HDF5File {
    try HDF5Library.withLock { () throws(HDF5Error) -> HDF5File in
      let id = H5Fopen(path, capskit_acc_rdonly(), capskit_h5p_default())
      guard id >= 0 else {
        throw HDF5Error(
          path: path, operation: "open as HDF5", detail: HDF5Library.takeErrorStack())
      }
      return HDF5File(path: path, id: id)
    }
  }

  /// Creates a file that lives only in memory (the core driver, `H5Pset_fapl_core` without a
  /// backing store); `fileImage()` returns its bytes. libhdf5 never touches the disk when writing,
  /// so disk errors are handled once, by `AtomicFile`. `path` only names it in messages.
  static func createInMemory(path: String) throws(HDF5Error) -> HDF5File {
    try HDF5Library.withLock { () throws(HDF5Error) -> HDF5File in
      let access = H5Pcreate(capskit_file_access_props())
      guard access >= 0 else {
        throw HDF5Error(path: path, operation: "create", detail: HDF5Library.takeErrorStack())
      }
      defer { H5Pclose(access) }
      guard H5Pset_fapl_core(access, 1 << 20, false) >= 0 else {
        throw HDF5Error(path: path, operation: "create", detail: HDF5Library.takeErrorStack())
      }
      let id = H5Fcreate(path, capskit_acc_trunc(), capskit_h5p_default(), access)
      guard id >= 0 else {
        throw HDF5Error(path: path, operation: "create", detail: HDF5Library.takeErrorStack())
      }
      return HDF5File(path: path, id: id)
    }
  }

  /// Opens a file image held in memory, read-only (`H5Pset_file_image` with the core driver).
  static func open(image: [UInt8], path: String) throws(HDF5Error) -> HDF5File {
    try HDF5Library.withLock { () throws(HDF5Error) -> HDF5File in
      let access = H5Pcreate(capskit_file_access_props())
      guard access >= 0 else {
        throw HDF5Error(path: path, operation: "open as HDF5", detail: HDF5Library.takeErrorStack())
      }
      defer { H5Pclose(access) }
      let configured = image.withUnsafeBytes { bytes in
        H5Pset_fapl_core(access, 1 << 20, false) >= 0
          && H5Pset_file_image(access, UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) >= 0
      }
      guard configured else {
        throw HDF5Error(path: path, operation: "open as HDF5", detail: HDF5Library.takeErrorStack())
      }
      let id = H5Fopen(path, capskit_acc_rdonly(), access)
      guard id >= 0 else {
        throw HDF5Error(path: path, operation: "open as HDF5", detail: HDF5Library.takeErrorStack())
      }
      return HDF5File(path: path, id: id)
    }
  }

  /// The complete bytes of an in-memory file (`H5Fflush`, `H5Fget_file_image`).
  func fileImage() throws(HDF5Error) -> [UInt8] {
    try HDF5Library.withLock { () throws(HDF5Error) -> [UInt8] in
      guard H5Fflush(fileID, H5F_SCOPE_GLOBAL) >= 0 else { throw failure("write") }
      let size = H5Fget_file_image(fileID, nil, 0)
      guard size >= 0 else { throw failure("write") }
      var bytes = [UInt8](repeating: 0, count: size)
      let copied = bytes.withUnsafeMutableBytes { H5Fget_file_image(fileID, $0.baseAddress, size) }
      guard copied == size else { throw failure("write") }
      return bytes
    }
  }

  /// The open file's identifier (for the extensions in this folder).
  var fileID: hid_t { handle?.id ?? -1 }

  func failure(_ operation: String) -> HDF5Error {
    HDF5Error(path: path, operation: operation, detail: HDF5Library.takeErrorStack())
  }

  // MARK: Listing

  /// Paths of the datasets at the root and inside groups up to `maxDepth` levels down, in name order.
  func datasetPaths(maxDepth: Int = 1) throws(HDF5Error) -> [String] {
    try HDF5Library.withLock { () throws(HDF5Error) -> [String] in
      var result: [String] = []
      try collectDatasets(in: "/", prefix: "", depth: 0, maxDepth: maxDepth, into: &result)
      return result
    }
  }

  private func collectDatasets(
    in group: String, prefix: String, depth: Int, maxDepth: Int, into result: inout [String]
  ) throws(HDF5Error) {
    let groupID = H5Gopen2(fileID, group, capskit_h5p_default())
    guard groupID >= 0 else { throw failure("open group '\(group)'") }
    defer { H5Gclose(groupID) }
    final class Names { var values: [String] = [] }
    let names = Names()
    let limit = 100_000
    let visit: capskit_link_visitor = { name, context in
      guard let name, let context else { return -1 }
      let names = Unmanaged<Names>.fromOpaque(context).takeUnretainedValue()
      names.values.append(String(cString: name))
      return names.values.count > 100_000 ? 1 : 0
    }
    let status = withExtendedLifetime(names) {
      capskit_iterate_links(groupID, visit, Unmanaged.passUnretained(names).toOpaque())
    }
    guard status >= 0 else { throw failure("list group '\(group)'") }
    guard names.values.count <= limit else {
      throw HDF5Error(
        path: path, operation: "list group '\(group)'",
        detail: "more than the \(limit) entries a model file may have")
    }
    for name in names.values {
      // Soft or external links that point nowhere are skipped rather than followed.
      guard H5Oexists_by_name(groupID, name, capskit_h5p_default()) > 0 else {
        H5Eclear2(capskit_h5e_default())
        continue
      }
      let objectID = H5Oopen(groupID, name, capskit_h5p_default())
      guard objectID >= 0 else { throw failure("open '\(prefix)\(name)'") }
      let type = H5Iget_type(objectID)
      H5Oclose(objectID)
      if type == H5I_DATASET {
        result.append(prefix + name)
      } else if type == H5I_GROUP, depth < maxDepth {
        try collectDatasets(
          in: group + name + "/", prefix: prefix + name + "/", depth: depth + 1, maxDepth: maxDepth,
          into: &result)
      }
    }
  }

  // MARK: Reading datasets

  /// Shape, stored type and storage size of a dataset.
  func datasetInfo(_ name: String) throws(HDF5Error) -> HDF5DatasetInfo {
    try HDF5Library.withLock { () throws(HDF5Error) -> HDF5DatasetInfo in
      let dataset = H5Dopen2(fileID, name, capskit_h5p_default())
      guard dataset >= 0 else { throw failure("open dataset '\(name)'") }
      defer { H5Dclose(dataset) }
      return try info(of: dataset, name: name)
    }
  }

  private func info(of dataset: hid_t, name: String) throws(HDF5Error) -> HDF5DatasetInfo {
    let space = H5Dget_space(dataset)
    guard space >= 0 else { throw failure("read the shape of '\(name)'") }
    defer { H5Sclose(space) }
    let shape = try dimensions(of: space, name: name)
    let type = H5Dget_type(dataset)
    guard type >= 0 else { throw failure("read the type of '\(name)'") }
    defer { H5Tclose(type) }
    return HDF5DatasetInfo(
      path: name, shape: shape, storedType: Self.storedType(of: type),
      storageByteCount: Int(clamping: H5Dget_storage_size(dataset)))
  }

  private func dimensions(of space: hid_t, name: String) throws(HDF5Error) -> [Int] {
    let rank = H5Sget_simple_extent_ndims(space)
    guard rank >= 0, rank <= 32 else {
      throw HDF5Error(path: path, operation: "read '\(name)'", detail: "unsupported rank \(rank)")
    }
    var dims = [hsize_t](repeating: 0, count: Int(rank))
    guard H5Sget_simple_extent_dims(space, &dims, nil) >= 0 else {
      throw failure("read the shape of '\(name)'")
    }
    return dims.map { Int(clamping: $0) }
  }

  private static func storedType(of type: hid_t) -> StoredScalarType {
    let size = H5Tget_size(type) * 8
    switch H5Tget_class(type) {
    case H5T_FLOAT: return .float(bits: size)
    case H5T_INTEGER: return .integer(bits: size, signed: H5Tget_sign(type) == H5T_SGN_2)
    case H5T_STRING: return .other("string")
    case H5T_COMPOUND: return .other("compound")
    default: return .other("non-numeric")
    }
  }

  /// Reads a whole dataset, converted by HDF5 to `T`; refuses more than `maxCount` elements
  /// before allocating, and sizes that the stored bytes cannot plausibly hold.
  func read<T: HDF5Scalar>(
    _ name: String, as: T.Type, maxCount: Int
  ) throws(HDF5Error) -> (shape: [Int], values: [T]) {
    try HDF5Library.withLock { () throws(HDF5Error) -> (shape: [Int], values: [T]) in
      let dataset = H5Dopen2(fileID, name, capskit_h5p_default())
      guard dataset >= 0 else { throw failure("open dataset '\(name)'") }
      defer { H5Dclose(dataset) }
      let info = try info(of: dataset, name: name)
      let count = try Self.elementCount(info.shape, limit: maxCount, name: name, path: path)
      // Deflate cannot compress better than about 1032:1, so fewer stored bytes mean a lie.
      let logicalBytes = count * MemoryLayout<T>.size
      // A corrupt file can claim any storage size: an overflowing product is plausible, not a trap.
      let (scaledStorage, overflow) = info.storageByteCount.multipliedReportingOverflow(by: 1100)
      if count > 0, !overflow, scaledStorage < logicalBytes {
        throw HDF5Error(
          path: path, operation: "read '\(name)'",
          detail: "it claims \(count) elements but stores only \(info.storageByteCount) bytes")
      }
      var values = [T](repeating: T.zero, count: count)
      if count > 0 {
        let status = values.withUnsafeMutableBytes {
          H5Dread(
            dataset, T.nativeType, capskit_h5s_all(), capskit_h5s_all(), capskit_h5p_default(),
            $0.baseAddress)
        }
        guard status >= 0 else { throw failure("read '\(name)'") }
      }
      return (info.shape, values)
    }
  }

  static func elementCount(
    _ shape: [Int], limit: Int, name: String, path: String
  ) throws(HDF5Error) -> Int {
    var count = 1
    for dimension in shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow, product <= limit else {
        throw HDF5Error(
          path: path, operation: "read '\(name)'",
          detail: "shape \(shape) exceeds the limit of \(limit) elements")
      }
      count = product
    }
    return count
  }

  // MARK: Writing datasets

  /// Writes a new dataset of `T.fileType`, contiguous (`H5Dcreate2`, `H5Dwrite`).
  func write<T: HDF5Scalar>(_ name: String, shape: [Int], values: [T]) throws(HDF5Error) {
    precondition(shape.reduce(1, *) == values.count, "shape and value count disagree")
    try HDF5Library.withLock { () throws(HDF5Error) in
      let space = try makeSpace(shape)
      defer { H5Sclose(space) }
      let dataset = H5Dcreate2(
        fileID, name, T.fileType, space, capskit_h5p_default(), capskit_h5p_default(),
        capskit_h5p_default())
      guard dataset >= 0 else { throw failure("create dataset '\(name)'") }
      defer { H5Dclose(dataset) }
      if values.isEmpty { return }
      let status = values.withUnsafeBytes {
        H5Dwrite(
          dataset, T.nativeType, capskit_h5s_all(), capskit_h5s_all(), capskit_h5p_default(),
          $0.baseAddress)
      }
      guard status >= 0 else { throw failure("write dataset '\(name)'") }
    }
  }

  private func makeSpace(_ shape: [Int]) throws(HDF5Error) -> hid_t {
    let space: hid_t
    if shape.isEmpty {
      space = H5Screate(H5S_SCALAR)
    } else {
      let dims = shape.map { hsize_t($0) }
      space = H5Screate_simple(Int32(dims.count), dims, nil)
    }
    guard space >= 0 else { throw failure("create a dataspace") }
    return space
  }

  // MARK: Attributes of the root group

  /// Names of the root group's attributes.
  func attributeNames() throws(HDF5Error) -> [String] {
    try HDF5Library.withLock { () throws(HDF5Error) -> [String] in
      final class Collector { var names: [String] = [] }
      let collector = Collector()
      let visit: H5A_operator2_t = { _, name, _, context in
        guard let name, let context else { return 0 }
        let collector = Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue()
        collector.names.append(String(cString: name))
        return collector.names.count >= 10_000 ? 1 : 0
      }
      var position: hsize_t = 0
      let status = withExtendedLifetime(collector) {
        H5Aiterate2(
          fileID, H5_INDEX_NAME, H5_ITER_INC, &position, visit,
          Unmanaged.passUnretained(collector).toOpaque())
      }
      guard status >= 0 else { throw failure("list attributes") }
      let names = collector.names
      return names
    }
  }

  /// The value of attribute `name` of the object at `objectPath` (default: the root group), or nil
  /// when absent (`H5Aexists_by_name`, `H5Aopen_by_name`, `H5Aread`); at most 100,000 elements.
  func attribute(_ name: String, of objectPath: String = ".") throws(HDF5Error) -> HDF5AttributeValue? {
    try HDF5Library.withLock { () throws(HDF5Error) -> HDF5AttributeValue? in
      let exists = H5Aexists_by_name(fileID, objectPath, name, capskit_h5p_default())
      guard exists >= 0 else { throw failure("read attribute '\(name)'") }
      guard exists > 0 else { return nil }
      let attribute = H5Aopen_by_name(fileID, objectPath, name, capskit_h5p_default(), capskit_h5p_default())
      guard attribute >= 0 else { throw failure("open attribute '\(name)'") }
      defer { H5Aclose(attribute) }
      let space = H5Aget_space(attribute)
      guard space >= 0 else { throw failure("read attribute '\(name)'") }
      defer { H5Sclose(space) }
      let count = Int(H5Sget_simple_extent_npoints(space))
      guard count >= 0, count <= 100_000 else {
        throw HDF5Error(
          path: path, operation: "read attribute '\(name)'", detail: "\(count) elements")
      }
      let type = H5Aget_type(attribute)
      guard type >= 0 else { throw failure("read attribute '\(name)'") }
      defer { H5Tclose(type) }
      switch H5Tget_class(type) {
      case H5T_INTEGER:
        var values = [Int64](repeating: 0, count: count)
        guard H5Aread(attribute, capskit_native_int64(), &values) >= 0 else {
          throw failure("read attribute '\(name)'")
        }
        return .integers(values)
      case H5T_FLOAT:
        var values = [Double](repeating: 0, count: count)
        guard H5Aread(attribute, capskit_native_double(), &values) >= 0 else {
          throw failure("read attribute '\(name)'")
        }
        return .doubles(values)
      case H5T_STRING:
        return .strings(try readStrings(attribute, type: type, count: count, name: name))
      default:
        return .unsupported
      }
    }
  }

  private func readStrings(
    _ attribute: hid_t, type: hid_t, count: Int, name: String
  ) throws(HDF5Error) -> [String] {
    if H5Tis_variable_str(type) > 0 {
      let memoryType = H5Tcopy(capskit_c_s1())
      defer { H5Tclose(memoryType) }
      H5Tset_size(memoryType, capskit_h5t_variable())
      H5Tset_cset(memoryType, H5Tget_cset(type))
      var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
      guard H5Aread(attribute, memoryType, &pointers) >= 0 else {
        throw failure("read attribute '\(name)'")
      }
      defer { for pointer in pointers where pointer != nil { H5free_memory(pointer) } }
      return pointers.map { $0.map { String(cString: $0) } ?? "" }
    }
    if count == 0 { return [] }
    let size = H5Tget_size(type)
    guard size > 0, size <= 1 << 16 else {
      throw HDF5Error(path: path, operation: "read attribute '\(name)'", detail: "string size \(size)")
    }
    var bytes = [UInt8](repeating: 0, count: size * count)
    guard H5Aread(attribute, type, &bytes) >= 0 else { throw failure("read attribute '\(name)'") }
    return (0..<count).map { index in
      let slice = bytes[(index * size)..<((index + 1) * size)]
      return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
    }
  }

  /// Writes a root attribute: integers as int64, doubles as float64, strings as variable-length UTF-8.
  func setAttribute(_ name: String, _ value: HDF5AttributeValue) throws(HDF5Error) {
    try HDF5Library.withLock { () throws(HDF5Error) in
      switch value {
      case .integers(let values):
        try writeAttribute(name, count: values.count, fileType: capskit_std_i64le()) {
          H5Awrite($0, capskit_native_int64(), values)
        }
      case .doubles(let values):
        try writeAttribute(name, count: values.count, fileType: capskit_ieee_f64le()) {
          H5Awrite($0, capskit_native_double(), values)
        }
      case .strings(let values):
        let type = H5Tcopy(capskit_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, capskit_h5t_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let cStrings = values.map { strdup($0) }
        defer { for cString in cStrings { free(cString) } }
        try writeAttribute(name, count: values.count, fileType: type) { attribute in
          cStrings.withUnsafeBufferPointer { H5Awrite(attribute, type, $0.baseAddress) }
        }
      case .unsupported:
        break
      }
    }
  }

  private func writeAttribute(
    _ name: String, count: Int, fileType: hid_t, write: (hid_t) -> herr_t
  ) throws(HDF5Error) {
    // One value is written as a scalar, as h5py does for `attrs[name] = 3`.
    let space = count == 1 ? H5Screate(H5S_SCALAR) : try makeSpace([count])
    guard space >= 0 else { throw failure("write attribute '\(name)'") }
    defer { H5Sclose(space) }
    let attribute = H5Acreate2(
      fileID, name, fileType, space, capskit_h5p_default(), capskit_h5p_default())
    guard attribute >= 0 else { throw failure("create attribute '\(name)'") }
    defer { H5Aclose(attribute) }
    guard write(attribute) >= 0 else { throw failure("write attribute '\(name)'") }
  }
}

/// A root attribute's value, in the few shapes our metadata uses.
enum HDF5AttributeValue: Sendable, Equatable {
  case integers([Int64])
  case doubles([Double])
  case strings([String])
  case unsupported
}
