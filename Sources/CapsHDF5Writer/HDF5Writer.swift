internal import CHDF5
import CapsFormat
import Foundation

/// A new HDF5 file built in memory by libhdf5 (the only place that calls it: `H5F*`, `H5D*`,
/// `H5A*`, `H5S*`, `H5T*`), for writing model files. Reading is done by `HDF5File`, in Swift.
///
/// Every method takes the library lock; identifiers never leave this type.
final class HDF5Writer {
  let path: String
  private var handle: HDF5Handle?

  private init(path: String, id: hid_t) {
    self.path = path
    self.handle = HDF5Handle(id, close: H5Fclose)
  }

  /// Creates a file that lives only in memory (the core driver, `H5Pset_fapl_core` without a
  /// backing store); `fileImage()` returns its bytes. libhdf5 never touches the disk when writing,
  /// so disk errors are handled once, by `AtomicFile`. `path` only names it in messages.
  ///
  /// With `denseAttributes`, the file uses the HDF5 1.8 object format, in which an attribute too
  /// large for an object header (64 KiB, e.g. the labels of thousands of classes) is kept in dense
  /// storage (a fractal heap) instead of failing; other files keep the most compatible format.
  static func createInMemory(path: String, denseAttributes: Bool = false) throws(HDF5Error) -> HDF5Writer {
    try HDF5Library.withLock { () throws(HDF5Error) -> HDF5Writer in
      let access = H5Pcreate(capskit_file_access_props())
      guard access >= 0 else {
        throw HDF5Error(
          .io(errno: nil), path: path, operation: "create", detail: HDF5Library.takeErrorStack())
      }
      defer { H5Pclose(access) }
      if denseAttributes, H5Pset_libver_bounds(access, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 {
        throw HDF5Error(
          .io(errno: nil), path: path, operation: "create", detail: HDF5Library.takeErrorStack())
      }
      guard H5Pset_fapl_core(access, 1 << 20, false) >= 0 else {
        throw HDF5Error(
          .io(errno: nil), path: path, operation: "create", detail: HDF5Library.takeErrorStack())
      }
      let id = H5Fcreate(path, capskit_acc_trunc(), capskit_h5p_default(), access)
      guard id >= 0 else {
        throw HDF5Error(
          .io(errno: nil), path: path, operation: "create", detail: HDF5Library.takeErrorStack())
      }
      return HDF5Writer(path: path, id: id)
    }
  }

  /// The complete bytes of the in-memory file (`H5Fflush`, `H5Fget_file_image`).
  func fileImage() throws(HDF5Error) -> [UInt8] {
    try HDF5Library.withLock { () throws(HDF5Error) -> [UInt8] in
      guard H5Fflush(fileID, H5F_SCOPE_GLOBAL) >= 0 else { throw failure("write") }
      let size = H5Fget_file_image(fileID, nil, 0)
      guard size >= 0 else { throw failure("write") }
      var bytes = [UInt8](repeating: 0, count: size)
      let copied = bytes.withUnsafeMutableBytes { H5Fget_file_image(fileID, $0.baseAddress, size) }
      guard copied == size else { throw failure("write") }
      Self.resealSuperblock(&bytes)
      return bytes
    }
  }

  /// `H5Fget_file_image` rewrites a version 2/3 superblock in the copy it returns (the end-of-file
  /// address, the "file is open" flags cleared) without recomputing its checksum, so that no reader
  /// (libhdf5 included) accepts the image: recompute the lookup3 checksum of its first 44 bytes.
  /// Version 0/1 superblocks (every file but those with dense attributes) have no checksum.
  static func resealSuperblock(_ bytes: inout [UInt8]) {
    guard bytes.count >= 48, bytes[8] == 2 || bytes[8] == 3, bytes[9] == 8 else { return }
    let checksum = HDF5Checksum.lookup3(bytes[0..<44])
    for k in 0..<4 { bytes[44 + k] = UInt8(truncatingIfNeeded: checksum >> (8 * UInt32(k))) }
  }

  /// The open file's identifier.
  var fileID: hid_t { handle?.id ?? -1 }

  func failure(_ operation: String) -> HDF5Error {
    HDF5Error(.io(errno: nil), path: path, operation: operation, detail: HDF5Library.takeErrorStack())
  }

  // MARK: Writing datasets

  /// Writes a new dataset of `T.fileType`, contiguous (`H5Dcreate2`, `H5Dwrite`).
  func write<T: HDF5Scalar>(_ name: String, shape: [Int], values: [T]) throws(HDF5Error) {
    precondition(shape.reduce(1, *) == values.count, "shape and value count disagree")
    try create(name, shape: shape, type: T.self) { (dataset: hid_t) throws(HDF5Error) in
      guard !values.isEmpty else { return }
      let status = values.withUnsafeBytes {
        H5Dwrite(
          dataset, T.nativeType, capskit_h5s_all(), capskit_h5s_all(), capskit_h5p_default(), $0.baseAddress)
      }
      guard status >= 0 else { throw failure("write dataset '\(name)'") }
    }
  }

  /// Creates a dataset of `T.fileType` without writing it: no storage is allocated and every value
  /// reads as the fill value. Makes small files that declare large datasets (tests of limits).
  func declare<T: HDF5Scalar>(_ name: String, shape: [Int], as type: T.Type) throws(HDF5Error) {
    try create(name, shape: shape, type: type) { (_: hid_t) throws(HDF5Error) in }
  }

  /// Creates dataset `name` and hands it to `fill` (under the library lock).
  private func create<T: HDF5Scalar>(
    _ name: String, shape: [Int], type: T.Type, fill: (hid_t) throws(HDF5Error) -> Void
  ) throws(HDF5Error) {
    try HDF5Library.withLock { () throws(HDF5Error) in
      let space = try makeSpace(shape)
      defer { H5Sclose(space) }
      let dataset = H5Dcreate2(
        fileID, name, T.fileType, space, capskit_h5p_default(), capskit_h5p_default(),
        capskit_h5p_default())
      guard dataset >= 0 else { throw failure("create dataset '\(name)'") }
      defer { H5Dclose(dataset) }
      try fill(dataset)
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
