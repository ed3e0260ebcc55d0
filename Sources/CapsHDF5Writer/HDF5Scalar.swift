internal import CHDF5

/// Element types the HDF5 writer stores (libhdf5 converts the native type to the file type).
protocol HDF5Scalar: Sendable {
  /// The in-memory (native) HDF5 type.
  static var nativeType: hid_t { get }
  /// The type written to files (little-endian IEEE or two's complement).
  static var fileType: hid_t { get }
}

extension Float: HDF5Scalar {
  static var nativeType: hid_t { capskit_native_float() }
  static var fileType: hid_t { capskit_ieee_f32le() }
}

extension Double: HDF5Scalar {
  static var nativeType: hid_t { capskit_native_double() }
  static var fileType: hid_t { capskit_ieee_f64le() }
}

extension Int64: HDF5Scalar {
  static var nativeType: hid_t { capskit_native_int64() }
  static var fileType: hid_t { capskit_std_i64le() }
}

extension UInt8: HDF5Scalar {
  static var nativeType: hid_t { capskit_native_uint8() }
  static var fileType: hid_t { capskit_native_uint8() }
}
