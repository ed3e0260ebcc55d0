/// The root-group attributes of a CapsKit model file (schema in docs/FORMAT.md).
package struct MetadataAttributes {
  package static let versionKey = "capskit_format_version"

  package var formatVersion: Int
  package var integers: [String: [Int64]] = [:]
  package var doubles: [String: Double] = [:]
  package var strings: [String: [String]] = [:]

  /// Configuration attributes, in the order they are written.
  static let configurationKeys = [
    "input_size", "input_channels", "conv1_channels", "conv1_kernel", "primary_kernel", "primary_stride",
    "primary_types", "primary_dimension", "input_capsules", "output_capsules", "output_dimension",
  ]

  var inputSize: Int? { integers["input_size"]?.first.map(Int.init) }
  var primaryStride: Int? { integers["primary_stride"]?.first.map(Int.init) }

  /// Reads the attributes, or nil when the file has no CapsKit metadata (a plain state_dict).
  static func read(from file: HDF5File) throws(HDF5Error) -> MetadataAttributes? {
    guard case .integers(let version)? = try file.attribute(versionKey), let first = version.first else {
      return nil
    }
    guard first >= 1, first <= Int64(ModelMetadata.formatVersion) else {
      throw HDF5Error(
        .unsupported, path: file.path, operation: "read the model metadata",
        detail: "format version \(first); this CapsKit reads version \(ModelMetadata.formatVersion)")
    }
    var result = MetadataAttributes(formatVersion: Int(first))
    for name in try file.attributeNames() where name != versionKey {
      switch try file.attribute(name) {
      case .integers(let values)?: result.integers[name] = values
      case .doubles(let values)?: if let value = values.first { result.doubles[name] = value }
      case .strings(let values)?: result.strings[name] = values
      default: break
      }
    }
    return result
  }

  /// Metadata from the attributes; mismatches with the configuration inferred from shapes and
  /// malformed values are appended to `problems`.
  func metadata(
    configuration: CapsNetConfiguration, problems: inout [ModelValidationError.Problem]
  ) -> ModelMetadata {
    let actual = Self.configurationValues(configuration)
    for key in Self.configurationKeys {
      if let stored = integers[key]?.first, let value = actual[key], stored != Int64(value) {
        problems.append(
          .init(.invalidMetadata, "metadata '\(key)' is \(stored) but the tensors give \(value)"))
      }
    }
    if let stored = integers["decoder_widths"], stored.map(Int.init) != configuration.decoderWidths {
      problems.append(
        .init(
          .invalidMetadata,
          "metadata 'decoder_widths' is \(stored) but the tensors give \(configuration.decoderWidths)"))
    }
    var metadata = ModelMetadata.reference(classCount: configuration.outputCapsules)
    if let iterations = integers["routing_iterations"]?.first { metadata.routingIterations = Int(iterations) }
    if let axis = strings["routing_softmax_axis"]?.first {
      if let parsed = RoutingSoftmaxAxis(rawValue: axis) {
        metadata.softmaxAxis = parsed
      } else {
        problems.append(
          .init(
            .invalidMetadata,
            "metadata 'routing_softmax_axis' is '\(axis)', expected input_capsules or output_capsules"))
      }
    }
    if let epsilon = doubles["squash_epsilon"] { metadata.squashEpsilon = epsilon }
    if let mean = doubles["input_mean"] { metadata.normalization.mean = mean }
    if let std = doubles["input_std"] { metadata.normalization.std = std }
    if let labels = strings["class_labels"] { metadata.classLabels = labels }
    metadata.sourceName = strings["source_name"]?.first
    metadata.sourceSHA256 = strings["source_sha256"]?.first
    if let order = strings["source_primary_order"]?.first {
      if let parsed = PrimaryCapsuleOrder(rawValue: order) {
        metadata.sourcePrimaryOrder = parsed
      } else {
        problems.append(
          .init(
            .invalidMetadata,
            "metadata 'source_primary_order' is '\(order)', expected dims-major or types-major"))
      }
    }
    return metadata
  }

  static func configurationValues(_ configuration: CapsNetConfiguration) -> [String: Int] {
    [
      "input_size": configuration.inputSize, "input_channels": configuration.inputChannels,
      "conv1_channels": configuration.conv1Channels, "conv1_kernel": configuration.conv1Kernel,
      "primary_kernel": configuration.primaryKernel, "primary_stride": configuration.primaryStride,
      "primary_types": configuration.primaryTypes, "primary_dimension": configuration.primaryDimension,
      "input_capsules": configuration.inputCapsules, "output_capsules": configuration.outputCapsules,
      "output_dimension": configuration.outputDimension,
    ]
  }

  /// The attributes describing `model`.
  package init(model: CapsModel) {
    formatVersion = ModelMetadata.formatVersion
    let values = Self.configurationValues(model.configuration)
    for key in Self.configurationKeys { integers[key] = [Int64(values[key] ?? 0)] }
    if model.configuration.hasDecoder {
      integers["decoder_widths"] = model.configuration.decoderWidths.map { Int64($0) }
    }
    let metadata = model.metadata
    integers["routing_iterations"] = [Int64(metadata.routingIterations)]
    strings["routing_softmax_axis"] = [metadata.softmaxAxis.rawValue]
    doubles["squash_epsilon"] = metadata.squashEpsilon
    doubles["input_mean"] = metadata.normalization.mean
    doubles["input_std"] = metadata.normalization.std
    strings["class_labels"] = metadata.classLabels
    if let name = metadata.sourceName { strings["source_name"] = [name] }
    if let digest = metadata.sourceSHA256 { strings["source_sha256"] = [digest] }
    if let order = metadata.sourcePrimaryOrder { strings["source_primary_order"] = [order.rawValue] }
  }

  private init(formatVersion: Int) { self.formatVersion = formatVersion }

  /// Metadata that a converted layout carries instead of file attributes (names as in
  /// docs/FORMAT.md, e.g. `squash_epsilon`, `routing_softmax_axis`, `input_mean`).
  init(converted doubles: [String: Double], strings: [String: [String]], integers: [String: [Int64]] = [:]) {
    formatVersion = ModelMetadata.formatVersion
    self.doubles = doubles
    self.strings = strings
    self.integers = integers
  }

  /// Whether an attribute would pass the 64 KiB an object header holds: a variable-length string
  /// takes 16 bytes in the attribute (its text lives in the global heap); 48 KiB leaves room for the
  /// rest of the header, so past 3,072 labels.
  package var needsDenseStorage: Bool {
    strings.values.contains { $0.count * 16 > 48 << 10 }
      || integers.values.contains { $0.count * 8 > 48 << 10 }
  }
}
