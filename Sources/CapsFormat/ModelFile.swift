import CapsFiles
import Foundation

/// Reads and writes capsule-network models in HDF5.
///
/// Reading accepts a `torch.save` checkpoint (`.pth`, read by `PthTensorSource` without Python), a
/// plain state_dict exported from PyTorch (one float dataset per key, at the
/// root or inside one group, as h5py writes it) and a CapsKit model file (the same datasets plus
/// metadata attributes on the root group, see docs/FORMAT.md). Writing produces a model file that
/// stays a PyTorch-loadable state_dict.
public enum ModelFile {
  /// Limits applied while reading, before anything is allocated.
  public struct ReadOptions: Sendable {
    /// Largest element count accepted for one tensor (default 2^28, 1 GiB of float32).
    public var maxTensorElements: Int = 1 << 28
    /// Accept NaN and infinite weights (rejected by default).
    public var allowNonFinite: Bool = false
    /// Input side used when neither metadata nor a decoder fixes it.
    public var defaultInputSize: Int = 28
    /// Stride of the primary convolution when metadata does not give it.
    public var defaultPrimaryStride: Int = 2
    /// The checkpoint's layout; nil detects it from the keys, shapes and (Keras) HDF5 attributes.
    public var layout: CheckpointLayout? = nil
    /// The primary-capsule order of a reference-layout checkpoint; nil assumes the reference
    /// (dims-major). It cannot be read from the file; a types-major checkpoint is converted.
    public var primaryOrder: PrimaryCapsuleOrder? = nil
    /// The entry of a `torch.save` checkpoint dict holding the state_dict (`a/b` when nested);
    /// nil finds it (see docs/FORMAT.md §4).
    public var stateDictKey: String? = nil

    /// The defaults listed above.
    public init() {}
  }

  /// Everything `read` learned besides the model itself.
  public struct Provenance: Sendable {
    /// True when the file carried CapsKit metadata; false for a plain state_dict (defaults used).
    public var hasMetadata: Bool
    /// Stored element type per reference key (float16/bfloat16/float32/float64 are all read as Float).
    public var storedTypes: [String: StoredScalarType]
    /// Renamings applied to reach the reference keys, e.g. "module.conv1.weight -> conv1.weight".
    public var renamedKeys: [String]
    /// The layout the file was read in (converted to the reference layout when another).
    public var layout: CheckpointLayout = .reference
    /// True when the layout was detected, false when `ReadOptions.layout` gave it.
    public var layoutWasDetected = true
    /// The primary-capsule order the checkpoint was read in (nil for a model file or another
    /// layout, whose order is known), and whether `ReadOptions.primaryOrder` gave it.
    public var primaryOrder: PrimaryCapsuleOrder? = nil
    public var primaryOrderWasGiven = false
  }

  /// Largest number of output capsules (classes) accepted; each gets a label in memory.
  public static let maxOutputCapsules = 1 << 16
  /// Largest input side accepted (that of the largest PNG CapsImage decodes).
  public static let maxInputSize = 8192
  /// Largest channel count, kernel, stride, capsule dimension or decoder width accepted.
  public static let maxDimension = 1 << 20

  /// Reads and validates a model; every problem with the tensors is reported in one error.
  public static func read(
    at path: String, options: ReadOptions = ReadOptions()
  ) throws(FormatError) -> (model: CapsModel, provenance: Provenance) {
    // A ZIP archive is a torch.save checkpoint, anything else HDF5; other layouts are converted.
    try read(opened: try LayoutReader.open(path: path, options: options), options: options)
  }

  /// Reads and validates a model from the bytes of an HDF5 file held in memory (any layout that
  /// HDF5 carries, as `read(at:)`); `name` identifies it in messages.
  public static func read(
    image: [UInt8], name: String, options: ReadOptions = ReadOptions()
  ) throws(FormatError) -> (model: CapsModel, provenance: Provenance) {
    let file: HDF5File
    do { file = try HDF5File.open(image: image, path: name) } catch { throw FormatError(error) }
    return try read(opened: try LayoutReader.open(source: file, options: options), options: options)
  }

  private static func read(
    opened: LayoutReader.Opened, options: ReadOptions
  ) throws(FormatError) -> (model: CapsModel, provenance: Provenance) {
    var (model, provenance) = try read(source: opened.source, options: options)
    provenance.layout = opened.layout
    provenance.layoutWasDetected = opened.detected
    // A converted layout's metadata comes from the layout, not from the file.
    if opened.layout != .reference { provenance.hasMetadata = false }
    if let archive = opened.source as? PthTensorSource, !archive.wrappers.isEmpty {
      provenance.renamedKeys.insert(
        "state_dict taken from '\(archive.wrappers.joined(separator: "/"))'", at: 0)
    }
    try applyPrimaryOrder(to: &model, provenance: &provenance, options: options, path: opened.source.path)
    return (model, provenance)
  }

  /// Converts a reference-layout checkpoint's conv2 from `options.primaryOrder` to the reference
  /// order and records the order in the metadata; refuses the option where the order is known.
  private static func applyPrimaryOrder(
    to model: inout CapsModel, provenance: inout Provenance, options: ReadOptions, path: String
  ) throws(FormatError) {
    let isCheckpoint = provenance.layout == .reference && !provenance.hasMetadata
    if let order = options.primaryOrder, !isCheckpoint {
      let reason =
        provenance.hasMetadata
        ? "is a CapsKit model file, already in the reference primary order (imported from a \(model.metadata.sourcePrimaryOrder?.rawValue ?? "dims-major") checkpoint)"
        : "is a \(provenance.layout.implementation) checkpoint, whose primary order the converter knows"
      throw FormatError(
        .unexpectedContent, path: path,
        detail: "\(reason); --primary-order \(order.rawValue) applies to reference-layout checkpoints only")
    }
    guard isCheckpoint else { return }
    let order = options.primaryOrder ?? .dimsMajor
    provenance.primaryOrder = order
    provenance.primaryOrderWasGiven = options.primaryOrder != nil
    var metadata = model.metadata
    metadata.sourcePrimaryOrder = order
    var weights = model.weights
    if order != .dimsMajor {
      let c = model.configuration
      for key in ["conv2.weight", "conv2.bias"] {
        guard let tensor = weights[key] else { continue }
        weights[key] = TensorLayoutOps.reorderRows(tensor) {
          order.sourceChannel(forReferenceChannel: $0, types: c.primaryTypes, dimension: c.primaryDimension)
        }
      }
    }
    do {
      model = try CapsModel(
        configuration: model.configuration, metadata: metadata, weights: weights,
        allowNonFinite: options.allowNonFinite, origin: path)
    } catch {
      throw FormatError(error)
    }
  }

  /// Reads and validates a model from any tensor source.
  static func read(
    source: any TensorSource, options: ReadOptions
  ) throws(FormatError) -> (model: CapsModel, provenance: Provenance) {
    try FormatError.mapping(path: source.path) { try readValidated(source, options: options) }
  }

  private static func readValidated(
    _ file: any TensorSource, options: ReadOptions
  ) throws -> (CapsModel, Provenance) {
    let path = file.path
    let (keyToDataset, renamed) = try canonicalKeys(file.tensorNames())
    var problems: [ModelValidationError.Problem] = []
    var shapes: [String: [Int]] = [:]
    var storedTypes: [String: StoredScalarType] = [:]
    for (key, dataset) in keyToDataset.sorted(by: { $0.key < $1.key }) {
      let info = try file.tensorInfo(dataset)
      storedTypes[key] = info.storedType
      guard info.storedType.isReadableFloat else {
        problems.append(
          .init(.wrongType, "'\(key)' is \(info.storedType), expected a float tensor", tensor: key))
        continue
      }
      shapes[key] = info.shape
    }

    let attributes = try file.metadataAttributes()
    let inferred = inferConfiguration(
      shapes: shapes, keys: Set(keyToDataset.keys), attributes: attributes, options: options)
    problems += inferred.problems
    guard let configuration = inferred.configuration else {
      throw ModelValidationError(
        origin: path,
        problems: problems + whatWasFound(file, keys: keyToDataset.keys.sorted(), problems: problems))
    }
    let metadata =
      attributes?.metadata(configuration: configuration, problems: &problems)
      ?? ModelMetadata.reference(classCount: configuration.outputCapsules)

    // Shapes first, so that a wrong file never makes us allocate its tensors.
    let expected = configuration.expectedShapes
    let expectedKeys = Set(expected.map(\.key))
    for (key, shape) in expected {
      if !keyToDataset.keys.contains(key) {
        problems.append(.missingTensor(key))
      } else if let actual = shapes[key], actual != shape {
        var reason = "'\(key)' has shape \(describe(shape: actual)), expected \(describe(shape: shape))"
        if key == "conv2.weight", actual.count == 4, actual[1] != configuration.conv1Channels {
          reason += " (conv1 has \(configuration.conv1Channels) output channels)"
        }
        problems.append(.init(.wrongShape, reason, tensor: key))
      }
    }
    problems += whatWasFound(file, keys: [], problems: problems)
    let unexpected = keyToDataset.keys.sorted().filter { !expectedKeys.contains($0) }
    // A few by name, then a count: thousands of extra datasets make one short line.
    problems += unexpected.prefix(5).map { .unexpectedTensor($0) }
    if unexpected.count > 5 {
      problems.append(.init(.unexpectedTensor, "\(unexpected.count - 5) more unexpected tensors"))
    }
    problems += configuration.validate().map { .init(.invalidConfiguration, $0) }
    guard problems.isEmpty else { throw ModelValidationError(origin: path, problems: uniqued(problems)) }

    var weights: [String: Tensor] = [:]
    for (key, _) in expected {
      guard let dataset = keyToDataset[key] else { continue }
      weights[key] = try file.readTensor(
        dataset, maxCount: options.maxTensorElements, allowNonFinite: options.allowNonFinite)
    }
    let model = try CapsModel(
      configuration: configuration, metadata: metadata, weights: weights,
      allowNonFinite: options.allowNonFinite, origin: path)
    return (
      model,
      Provenance(hasMetadata: attributes != nil, storedTypes: storedTypes, renamedKeys: renamed)
    )
  }

  /// When tensors are missing: the links the source did not follow (external, dangling) and,
  /// given `keys`, the tensors it does hold; a few by name, then a count.
  private static func whatWasFound(
    _ file: any TensorSource, keys: [String], problems: [ModelValidationError.Problem]
  ) -> [ModelValidationError.Problem] {
    guard problems.contains(where: { $0.kind == .missingTensor }) else { return [] }
    let unlisted = file.unlistedEntries()
    var notes = Array(unlisted.prefix(5))
    if unlisted.count > 5 { notes.append("\(unlisted.count - 5) more links not followed") }
    if !keys.isEmpty {
      let named = keys.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
      notes.append(
        "found \(keys.count) tensors: \(named)\(keys.count > 5 ? " and \(keys.count - 5) more" : "")")
    }
    return notes.map { .init(.note, $0) }
  }

  private static func uniqued(_ problems: [ModelValidationError.Problem]) -> [ModelValidationError.Problem] {
    var seen = Set<ModelValidationError.Problem>()
    return problems.filter { seen.insert($0).inserted }
  }

  /// Maps reference keys to dataset paths: drops the groups common to every path, maps nested
  /// groups to dotted keys (`conv1/weight` -> `conv1.weight`, when no two paths then collide),
  /// drops a `module.` prefix (DataParallel) and renames the older `reconstruct.` decoder name.
  static func canonicalKeys(_ paths: [String]) -> (keys: [String: String], renamed: [String]) {
    var names = paths
    var renamed: [String] = []
    while let first = names.first, let slash = first.firstIndex(of: "/") {
      let group = first[...slash]
      guard names.allSatisfy({ $0.hasPrefix(group) }) else { break }
      names = names.map { String($0.dropFirst(group.count)) }
      renamed.append("group '\(group.dropLast())' stripped")
    }
    if let nested = names.first(where: { $0.contains("/") }) {
      let dotted = names.map { $0.replacingOccurrences(of: "/", with: ".") }
      if Set(dotted).count == dotted.count {
        renamed.append(
          "nested groups mapped to dotted keys (\(nested) -> \(nested.replacingOccurrences(of: "/", with: ".")))"
        )
        names = dotted
      }
    }
    if !names.isEmpty, names.allSatisfy({ $0.hasPrefix("module.") }) {
      names = names.map { String($0.dropFirst("module.".count)) }
      renamed.append("prefix 'module.' stripped")
    }
    if names.contains(where: { $0.hasPrefix("reconstruct.") }),
      !names.contains(where: { $0.hasPrefix("decoder.") })
    {
      names = names.map {
        $0.hasPrefix("reconstruct.") ? "decoder." + $0.dropFirst("reconstruct.".count) : $0
      }
      renamed.append("'reconstruct.*' renamed to 'decoder.*'")
    }
    var keys: [String: String] = [:]
    for (name, path) in zip(names, paths) { keys[name] = path }
    return (keys, renamed)
  }

  /// Derives the configuration from the tensor shapes (and the two sizes only metadata can give).
  static func inferConfiguration(
    shapes: [String: [Int]], keys: Set<String>, attributes: MetadataAttributes?, options: ReadOptions
  ) -> (configuration: CapsNetConfiguration?, problems: [ModelValidationError.Problem]) {
    var problems: [ModelValidationError.Problem] = []
    func rank4(_ key: String) -> [Int]? {
      guard let shape = shapes[key] else {
        if !keys.contains(key) { problems.append(.missingTensor(key)) }
        return nil
      }
      guard shape.count == 4 else {
        problems.append(
          .init(.wrongShape, "'\(key)' has shape \(describe(shape: shape)), expected 4 axes", tensor: key))
        return nil
      }
      return shape
    }
    let conv1 = rank4("conv1.weight")
    let conv2 = rank4("conv2.weight")
    let routing = rank4("digit_capsules.weight")
    guard let conv1, let conv2, let routing else { return (nil, problems) }

    var decoderWidths: [Int] = []
    var layer = 0
    while let shape = shapes["decoder.\(layer).weight"] {
      guard shape.count == 2 else {
        problems.append(
          .init(
            .wrongShape, "'decoder.\(layer).weight' has shape \(describe(shape: shape)), expected 2 axes",
            tensor: "decoder.\(layer).weight"))
        break
      }
      decoderWidths.append(shape[0])
      layer += 2
    }

    let dimension = routing[2]
    guard dimension > 0, conv2[0] % dimension == 0 else {
      problems.append(
        .init(
          .wrongShape,
          "'conv2.weight' has \(conv2[0]) output channels, not a multiple of the primary capsule dimension \(dimension) of 'digit_capsules.weight'",
          tensor: "conv2.weight"))
      return (nil, problems)
    }
    var inputSize = attributes?.inputSize ?? options.defaultInputSize
    if attributes?.inputSize == nil, let last = decoderWidths.last, conv1[1] > 0, last % conv1[1] == 0 {
      let side = Int(Double(last / conv1[1]).squareRoot().rounded())
      let (square, overflow) = side.multipliedReportingOverflow(by: side)
      if !overflow, square == last / conv1[1] { inputSize = side }
    }
    let primaryStride = attributes?.primaryStride ?? options.defaultPrimaryStride
    // Sizes come from shapes and attributes the file chose: bound each before any product of them
    // (input side as a PNG's, every other size to 2^20, the classes to 2^16), so that no shape
    // arithmetic (grid, capsule counts, expected shapes, plans) can overflow.
    let sizes: [(String, Int, Int)] =
      [
        ("input size", inputSize, maxInputSize), ("input channels", conv1[1], maxDimension),
        ("conv1 channels", conv1[0], maxDimension), ("conv1 kernel", conv1[2], maxDimension),
        ("conv1 kernel", conv1[3], maxDimension), ("primary kernel", conv2[2], maxDimension),
        ("primary kernel", conv2[3], maxDimension), ("primary stride", primaryStride, maxDimension),
        ("primary channels", conv2[0], maxDimension), ("primary dimension", dimension, maxDimension),
        ("output dimension", routing[3], maxDimension), ("output capsules", routing[1], maxOutputCapsules),
      ] + decoderWidths.map { ("decoder width", $0, maxDimension) }
    for (name, value, limit) in sizes where !(-limit...limit).contains(value) {
      problems.append(
        .init(
          .invalidConfiguration,
          name == "output capsules"
            ? "\(value) output capsules, more than the \(limit) accepted"
            : "\(name) \(value) is out of range (at most \(limit))"))
      return (nil, problems)
    }
    let configuration = CapsNetConfiguration(
      inputSize: inputSize, inputChannels: conv1[1], conv1Channels: conv1[0], conv1Kernel: conv1[2],
      primaryKernel: conv2[2], primaryStride: primaryStride,
      primaryTypes: conv2[0] / dimension, primaryDimension: dimension, outputCapsules: routing[1],
      outputDimension: routing[3], decoderWidths: decoderWidths)
    if conv1[2] != conv1[3] {
      problems.append(
        .init(
          .wrongShape, "'conv1.weight' has a \(conv1[2])x\(conv1[3]) kernel, expected a square one",
          tensor: "conv1.weight"))
    }
    let grid = configuration.primaryGrid
    if grid > 0, routing[0] != configuration.inputCapsules {
      problems.append(
        .init(
          .wrongShape,
          "'digit_capsules.weight' has \(routing[0]) input capsules, but \(configuration.primaryTypes) types on a \(grid)x\(grid) grid give \(configuration.inputCapsules)",
          tensor: "digit_capsules.weight"))
    }
    return (configuration, problems)
  }

  // Writing (`write`, `writeStateDict`) is in CapsHDF5Writer, the one module that links libhdf5.

  /// Largest source file whose SHA-256 `recordSource` computes: what the model's tensors can take
  /// (8 bytes a parameter, float64), four times over for other content such as a Keras optimizer's
  /// state, plus 64 MiB. Hashing stays proportional to the model, not to what a file appends.
  public static func sourceDigestLimit(for configuration: CapsNetConfiguration) -> Int {
    let (tensors, overflow) = configuration.parameterCount.multipliedReportingOverflow(by: 32)
    return overflow ? .max : tensors + (64 << 20)
  }

  /// Adds source provenance (file name and SHA-256) to a model's metadata; a name that is not UTF-8
  /// is stored with `\xHH` escapes (``CapsFiles/FileName/display(_:)``), the attribute being UTF-8. A file larger than
  /// `sourceDigestLimit` is not hashed (it is not read past what the model needed): the digest is
  /// left out and the returned note says why; nil when the digest was recorded.
  @discardableResult
  public static func recordSource(of model: inout CapsModel, path: String) throws(FormatError) -> String? {
    model.metadata.sourceName = FileName.display(URL(fileURLWithPath: path).lastPathComponent)
    let limit = sourceDigestLimit(for: model.configuration)
    model.metadata.sourceSHA256 = try SHA256.hexDigest(ofFile: path, limit: limit)
    guard model.metadata.sourceSHA256 == nil else { return nil }
    return
      "source SHA-256 not recorded: the file is larger than the \(limit >> 20) MiB that a model of "
      + "\(model.configuration.parameterCount) parameters needs, and is not read past its tensors"
  }
}
