import CapsCore
import CapsFormat

/// Writing model files, the one use of libhdf5 (reading is CapsFormat's own Swift parser).
extension ModelFile {
  /// Writes `model` as a model file: reference datasets (float32) plus metadata attributes.
  ///
  /// Atomic: a temporary file in the same folder is renamed into place; nothing is left behind
  /// on error. An existing file is replaced only when `overwrite` is true.
  public static func write(_ model: CapsModel, to path: String, overwrite: Bool) throws(FormatError) {
    try write(model, to: path, overwrite: overwrite, includeMetadata: true)
  }

  /// Writes only the state_dict (the reference datasets, no metadata): the `export` format.
  public static func writeStateDict(_ model: CapsModel, to path: String, overwrite: Bool) throws(FormatError)
  {
    try write(model, to: path, overwrite: overwrite, includeMetadata: false)
  }

  private static func write(
    _ model: CapsModel, to path: String, overwrite: Bool, includeMetadata: Bool
  ) throws(FormatError) {
    let image: [UInt8]
    do {
      let attributes = includeMetadata ? MetadataAttributes(model: model) : nil
      let file = try HDF5Writer.createInMemory(
        path: path, denseAttributes: attributes?.needsDenseStorage ?? false)
      for key in model.orderedKeys {
        let tensor = model.tensor(key)
        try file.write(key, shape: tensor.shape, values: tensor.values)
      }
      try attributes?.write(to: file)
      image = try file.fileImage()
    } catch {
      throw FormatError(error)
    }
    try AtomicFile.write(image, to: path, overwrite: overwrite)
  }
}

extension MetadataAttributes {
  func write(to file: HDF5Writer) throws(HDF5Error) {
    try file.setAttribute(Self.versionKey, .integers([Int64(formatVersion)]))
    for (name, values) in integers.sorted(by: { $0.key < $1.key }) {
      try file.setAttribute(name, .integers(values))
    }
    for (name, value) in doubles.sorted(by: { $0.key < $1.key }) {
      try file.setAttribute(name, .doubles([value]))
    }
    for (name, values) in strings.sorted(by: { $0.key < $1.key }) {
      try file.setAttribute(name, .strings(values))
    }
  }
}
