/// gram-ai/capsule-networks checkpoints, converted exactly to the reference layout.
///
/// gram-ai splits the primary convolution into D convolutions `primary_capsules.capsules.{d}` of
/// T output channels each, and builds capsule i = t*G*G + h*G + w from component d = the d-th
/// convolution's channel t at (h, w). Concatenated in order d = 0..<D they are the reference
/// `conv2`, whose channel d*T + t gives exactly that capsule component. `digit_capsules.route_weights`
/// [J, I, D, M] is W[i, j, n, m] with the first two axes swapped. Its squash has no epsilon and its
/// input is pixel/255 without normalisation: recorded as metadata (epsilon 0, mean 0, std 1).
/// Routing is the reference's: softmax over the input capsules, per-sample logits.
enum GramAILayout {
  static let metadata = MetadataAttributes(
    converted: ["squash_epsilon": 0, "input_mean": 0, "input_std": 1],
    strings: ["routing_softmax_axis": [RoutingSoftmaxAxis.inputCapsules.rawValue]],
    integers: ["routing_iterations": [3]])

  static func convert(_ source: any TensorSource, options: ModelFile.ReadOptions) throws
    -> ConvertedTensorSource
  {
    let (keys, _) = ModelFile.canonicalKeys(try source.tensorNames())
    var problems: [ModelValidationError.Problem] = []
    var consumed = Set<String>()
    func info(_ key: String) throws -> TensorInfo? {
      guard let name = keys[key] else {
        problems.append(.missingTensor(key))
        return nil
      }
      consumed.insert(key)
      return try source.tensorInfo(name)
    }

    var components = 0
    while keys["primary_capsules.capsules.\(components).weight"] != nil { components += 1 }
    if components == 0 { problems.append(.missingTensor("primary_capsules.capsules.0.weight")) }
    var primaryShape: [Int]?
    for d in 0..<components {
      guard let weight = try info("primary_capsules.capsules.\(d).weight") else { continue }
      if weight.shape.count != 4 {
        problems.append(
          .init(
            .wrongShape,
            "'primary_capsules.capsules.\(d).weight' has shape \(describe(shape: weight.shape)), expected 4 axes",
            tensor: "primary_capsules.capsules.\(d).weight"))
      } else if let first = primaryShape, first != weight.shape {
        problems.append(
          .init(
            .wrongShape,
            "'primary_capsules.capsules.\(d).weight' has shape \(describe(shape: weight.shape)), but capsule 0's is \(describe(shape: first))",
            tensor: "primary_capsules.capsules.\(d).weight"))
      } else {
        primaryShape = weight.shape
      }
      if let bias = try info("primary_capsules.capsules.\(d).bias"), bias.shape != [weight.shape.first ?? 0] {
        problems.append(
          .init(
            .wrongShape,
            "'primary_capsules.capsules.\(d).bias' has shape \(describe(shape: bias.shape)), expected [\(weight.shape.first ?? 0)]",
            tensor: "primary_capsules.capsules.\(d).bias"))
      }
    }
    if let route = try info("digit_capsules.route_weights") {
      if route.shape.count != 4 {
        problems.append(
          .init(
            .wrongShape,
            "'digit_capsules.route_weights' has shape \(describe(shape: route.shape)), expected [outputs, inputs, \(components), output dimension]",
            tensor: "digit_capsules.route_weights"))
      } else if route.shape[2] != components {
        problems.append(
          .init(
            .wrongShape,
            "'digit_capsules.route_weights' has capsule dimension \(route.shape[2]), but there are \(components) primary convolutions",
            tensor: "digit_capsules.route_weights"))
      }
    }
    guard problems.isEmpty else {
      throw ModelValidationError(origin: "\(source.path) (gram-ai layout)", problems: problems)
    }

    // Shapes now, values only when ModelFile asks (after checking every shape).
    var entries: [String: ConvertedTensorSource.Entry] = [:]
    func read(_ key: String, _ maxCount: Int) throws -> Tensor {
      guard let name = keys[key] else {
        throw ModelValidationError(
          origin: source.path, problems: [.init(.missingTensor, "missing '\(key)'", tensor: key)])
      }
      return try source.readTensor(name, maxCount: maxCount)
    }
    func info(of key: String) throws -> TensorInfo? { try keys[key].map { try source.tensorInfo($0) } }
    if let primaryShape, let weight = try info(of: "primary_capsules.capsules.0.weight"),
      let bias = try info(of: "primary_capsules.capsules.0.bias")
    {
      let primaryKeys = (0..<components).map { "primary_capsules.capsules.\($0)" }
      var shape = primaryShape
      let (rows, overflow) = shape[0].multipliedReportingOverflow(by: components)
      guard !overflow else {
        throw ModelValidationError(
          origin: "\(source.path) (gram-ai layout)",
          problems: [
            .init(
              .invalidConfiguration, "\(components) primary convolutions of \(shape[0]) channels overflow")
          ])
      }
      shape[0] = rows
      entries["conv2.weight"] = .init(info: TensorInfo(shape: shape, storedType: weight.storedType)) {
        limit in
        TensorLayoutOps.concatenate(try primaryKeys.map { try read($0 + ".weight", limit) })
      }
      entries["conv2.bias"] = .init(info: TensorInfo(shape: [shape[0]], storedType: bias.storedType)) {
        limit in
        TensorLayoutOps.concatenate(try primaryKeys.map { try read($0 + ".bias", limit) })
      }
    }
    if let route = try info(of: "digit_capsules.route_weights") {
      let shape = [route.shape[1], route.shape[0], route.shape[2], route.shape[3]]
      entries["digit_capsules.weight"] = .init(info: TensorInfo(shape: shape, storedType: route.storedType)) {
        TensorLayoutOps.permute(try read("digit_capsules.route_weights", $0), axes: [1, 0, 2, 3])
      }
    }
    // conv1 and the decoder have the reference names; anything else is passed on to be reported.
    for key in keys.keys.sorted() where !consumed.contains(key) {
      guard let tensorInfo = try info(of: key) else { continue }
      entries[key] = .init(info: tensorInfo) { try read(key, $0) }
    }
    return ConvertedTensorSource(path: source.path, entries: entries, metadata: metadata)
  }
}
