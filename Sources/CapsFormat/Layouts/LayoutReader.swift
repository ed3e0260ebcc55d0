/// Opens a checkpoint file as a tensor source in the reference layout: picks the container (`.pth`
/// or HDF5), detects the layout (or takes the one asked for) and converts it.
enum LayoutReader {
  struct Opened {
    /// Tensors with reference names and orders (converted ones carry their layout's metadata).
    var source: any TensorSource
    var layout: CheckpointLayout
    /// False when the layout was given by `ReadOptions.layout`.
    var detected: Bool
  }

  static func open(path: String, options: ModelFile.ReadOptions) throws(FormatError) -> Opened {
    try FormatError.mapping(path: path) {
      try convert(
        try CheckpointContainer.openSource(at: path, stateDictKey: options.stateDictKey), options: options)
    }
  }

  /// Detects (or takes) the layout of an opened source and converts it.
  static func open(source: any TensorSource, options: ModelFile.ReadOptions) throws(FormatError) -> Opened {
    try FormatError.mapping(path: source.path) { try convert(source, options: options) }
  }

  private static func convert(_ source: any TensorSource, options: ModelFile.ReadOptions) throws -> Opened {
    let requested = options.layout
    let path = source.path
    if let file = source as? HDF5File, requested == .keras || requested == nil {
      let isKeras = try KerasLayout.weightsRoot(of: file) != nil
      if isKeras || requested == .keras {
        return Opened(
          source: try KerasLayout.convert(file, options: options), layout: .keras, detected: requested == nil)
      }
    }
    let detection = LayoutDetection.detect(
      keys: Set(ModelFile.canonicalKeys(try source.tensorNames()).keys.keys))
    let layout: CheckpointLayout
    switch (requested, detection) {
    case (let requested?, _):
      layout = requested
    case (nil, .layout(let detected)):
      layout = detected
    case (nil, .refused(let implementation, let reason)):
      throw FormatError(
        .unsupported, path: path,
        detail: "\(implementation) layout, which cannot be converted to the reference: \(reason)")
    }
    switch layout {
    case .reference:
      return Opened(source: source, layout: .reference, detected: requested == nil)
    case .gramAI:
      return Opened(
        source: try GramAILayout.convert(source, options: options), layout: .gramAI,
        detected: requested == nil)
    case .keras:
      throw FormatError(
        .unexpectedContent, path: path,
        detail: "the Keras layout is read from Keras HDF5 weight files only, and this is a .pth archive")
    }
  }
}
