internal import CHDF5

/// Owns one HDF5 identifier and closes it exactly once (`H5Fclose`, `H5Dclose`, ...).
final class HDF5Handle {
  let id: hid_t
  private let close: (hid_t) -> herr_t

  init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
    self.id = id
    self.close = close
  }

  deinit {
    HDF5Library.withLock { _ = close(id) }
  }
}
