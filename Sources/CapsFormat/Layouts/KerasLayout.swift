/// XifengGuo/CapsNet-Keras weights (HDF5 from `save_weights`, or `model.save` with the same tree
/// under `/model_weights`), converted exactly to the reference layout.
///
/// The file lists its layers in the `layer_names` attribute and each layer's weights in the group's
/// `weight_names` attribute; dataset `<layer>/<weight name>` holds the weight. Layers are recognised
/// by their weights, in file order: the first 4-D `kernel` is conv1, the second the primary
/// convolution, the 4-D weight that is not a kernel (`W`) the routing weights, and the 2-D kernels
/// the decoder. The conversions (T primary types, D dimensions, G x G grid):
/// - conv kernels (kh, kw, in, out) become OIHW;
/// - Keras reshapes the NHWC primary output to (G*G*T, D), so its channel t*D + d is component d of
///   capsule (h*G + w)*T + t; reference channel d*T + t and capsule t*G*G + h*G + w;
/// - W [J, I, M, D] (`inputs_hat[j, i, m] = sum_d W[j, i, m, d] u[i, d]`) becomes W[i, j, d, m] with
///   i reindexed;
/// - dense kernels (in, out) become Linear weights (out, in); the decoder output is HWC, reordered to
///   CHW when there is more than one channel.
/// Metadata: softmax over the output capsules, squash epsilon 1e-7 (`K.epsilon()`), input /255.
enum KerasLayout {
  static let metadata = MetadataAttributes(
    converted: ["squash_epsilon": 1e-7, "input_mean": 0, "input_std": 1],
    strings: ["routing_softmax_axis": [RoutingSoftmaxAxis.outputCapsules.rawValue]],
    integers: ["routing_iterations": [3]])

  /// The group holding `layer_names`: the root (`save_weights`) or `/model_weights` (`model.save`);
  /// nil when the file is not a Keras weights file.
  static func weightsRoot(of file: HDF5File) throws -> String? {
    if try file.stringAttribute("layer_names", of: "/") != nil { return "" }
    if try file.groupExists("/model_weights"),
      try file.stringAttribute("layer_names", of: "/model_weights") != nil
    {
      return "/model_weights"
    }
    return nil
  }

  private struct Weight {
    var path: String
    var info: HDF5DatasetInfo
    var bias: HDF5DatasetInfo?
    /// Sub-layer prefix of the weight name (`dense_1` in `dense_1/kernel:0`).
    var owner: String
  }

  static func convert(_ file: HDF5File, options: ModelFile.ReadOptions) throws -> ConvertedTensorSource {
    let origin = "\(file.path) (Keras layout)"
    guard let root = try weightsRoot(of: file) else {
      throw FormatError(
        .unexpectedContent, path: file.path,
        detail: "not a Keras weights file (no 'layer_names' attribute on the root group or on /model_weights)"
      )
    }
    var problems: [ModelValidationError.Problem] = []
    var kernels4: [Weight] = []
    var kernels2: [Weight] = []
    var routing: [Weight] = []
    for layer in try file.stringAttribute("layer_names", of: root.isEmpty ? "/" : root) ?? [] {
      let group = "\(root)/\(layer)"
      guard try file.groupExists(group) else {
        problems.append(.init(.invalidConfiguration, "layer '\(layer)' is listed but has no group"))
        continue
      }
      for name in try file.stringAttribute("weight_names", of: group) ?? [] {
        let path = "\(group)/\(name)"
        let info = try file.datasetInfo(path)
        var parts = name.split(separator: "/").map(String.init)
        var base = parts.popLast() ?? name
        if let colon = base.firstIndex(of: ":") { base = String(base[..<colon]) }
        let owner = parts.joined(separator: "/")
        let weight = Weight(path: path, info: info, owner: owner)
        switch (base, info.shape.count) {
        case ("kernel", 4): kernels4.append(weight)
        case ("kernel", 2): kernels2.append(weight)
        case ("bias", 1):
          if let index = kernels4.lastIndex(where: { $0.owner == owner && $0.bias == nil }) {
            kernels4[index].bias = info
          } else if let index = kernels2.lastIndex(where: { $0.owner == owner && $0.bias == nil }) {
            kernels2[index].bias = info
          } else {
            problems.append(
              .init(.unexpectedTensor, "bias '\(path)' follows no kernel of its layer", tensor: path))
          }
        case (_, 4): routing.append(weight)
        default:
          problems.append(
            .init(
              .unexpectedTensor, "unexpected weight '\(path)' of shape \(describe(shape: info.shape))",
              tensor: path))
        }
      }
    }
    if kernels4.count != 2 {
      problems.append(
        .init(
          .invalidConfiguration,
          "found \(kernels4.count) convolution kernels, expected 2 (conv1 and the primary capsules)"))
    }
    if routing.count != 1 {
      problems.append(
        .init(
          .invalidConfiguration,
          "found \(routing.count) 4-D non-kernel weights, expected 1 (the digit capsules' W)"))
    }
    for weight in kernels4 + kernels2 where weight.bias == nil {
      problems.append(.init(.missingTensor, "kernel '\(weight.path)' has no bias", tensor: weight.path))
    }
    guard problems.isEmpty, let routingWeight = routing.first else {
      throw ModelValidationError(origin: origin, problems: problems)
    }

    // Shapes, before reading anything.
    let conv1 = kernels4[0].info.shape  // (k, k, in, c1)
    let conv2 = kernels4[1].info.shape  // (k, k, c1, T*D)
    let w = routingWeight.info.shape  // (J, I, M, D)
    let dimension = w[3]
    let channels = conv2[3]
    if conv2[2] != conv1[3] {
      problems.append(
        .init(
          .wrongShape,
          "the primary kernel takes \(conv2[2]) channels, conv1 gives \(conv1[3]) ('\(kernels4[1].path)')",
          tensor: kernels4[1].path))
    }
    let types = dimension > 0 && channels % dimension == 0 ? channels / dimension : 0
    if types == 0 {
      problems.append(
        .init(
          .invalidConfiguration,
          "the primary convolution has \(channels) channels, not a multiple of the capsule dimension \(dimension) of '\(routingWeight.path)'",
          tensor: routingWeight.path))
    }
    for weight in kernels4 + kernels2 {
      let outputs = weight.info.shape.last ?? 0
      if let bias = weight.bias, bias.shape != [outputs] {
        problems.append(
          .init(
            .wrongShape,
            "bias '\(bias.path)' has shape \(describe(shape: bias.shape)), expected [\(outputs)]",
            tensor: bias.path))
      }
    }
    let grid = types > 0 ? Int(Double(w[1] / types).squareRoot().rounded()) : 0
    if types > 0, grid * grid * types != w[1] {
      problems.append(
        .init(
          .wrongShape,
          "'\(routingWeight.path)' has \(w[1]) input capsules, not \(types) types on a square grid",
          tensor: routingWeight.path))
    }
    guard problems.isEmpty else { throw ModelValidationError(origin: origin, problems: problems) }

    // Shapes now, values only when ModelFile asks (after checking every shape against the
    // configuration): a weight the model does not use is never read.
    var entries: [String: ConvertedTensorSource.Entry] = [:]
    func read(_ info: HDF5DatasetInfo, _ maxCount: Int) throws -> Tensor {
      let (shape, values) = try file.read(info.path, as: Float.self, maxCount: maxCount)
      return Tensor(shape: shape, values: values)
    }
    func add(
      _ key: String, _ info: HDF5DatasetInfo, shape: [Int], convert: @escaping (Tensor) -> Tensor
    ) {
      entries[key] = .init(info: TensorInfo(shape: shape, storedType: info.storedType)) {
        convert(try read(info, $0))
      }
    }
    func bias(_ weight: Weight) -> HDF5DatasetInfo { weight.bias ?? weight.info }  // every kernel has one
    func oihw(_ shape: [Int]) -> [Int] { [shape[3], shape[2], shape[0], shape[1]] }

    add("conv1.weight", kernels4[0].info, shape: oihw(conv1)) {
      TensorLayoutOps.permute($0, axes: [3, 2, 0, 1])
    }
    add("conv1.bias", bias(kernels4[0]), shape: bias(kernels4[0]).shape) { $0 }

    // Reference channel d*T + t is Keras channel t*D + d.
    let kerasChannel: (Int) -> Int = { reference in (reference % types) * dimension + reference / types }
    add("conv2.weight", kernels4[1].info, shape: oihw(conv2)) {
      TensorLayoutOps.reorderRows(TensorLayoutOps.permute($0, axes: [3, 2, 0, 1]), source: kerasChannel)
    }
    add("conv2.bias", bias(kernels4[1]), shape: bias(kernels4[1]).shape) {
      TensorLayoutOps.reorderRows($0, source: kerasChannel)
    }

    // W_ref[i_r, j, n, m] = W_keras[j, i_k, m, n], i_r = t*G*G + h*G + w, i_k = (h*G + w)*T + t.
    let (outputs, inputs, outputDimension) = (w[0], w[1], w[2])
    add("digit_capsules.weight", routingWeight.info, shape: [inputs, outputs, dimension, outputDimension]) {
      keras in
      var values = [Float](repeating: 0, count: keras.count)
      let cells = grid * grid
      for t in 0..<types {
        for cell in 0..<cells {
          let ir = t * cells + cell
          let ik = cell * types + t
          for j in 0..<outputs {
            for n in 0..<dimension {
              for m in 0..<outputDimension {
                values[((ir * outputs + j) * dimension + n) * outputDimension + m] =
                  keras.values[((j * inputs + ik) * outputDimension + m) * dimension + n]
              }
            }
          }
        }
      }
      return Tensor(shape: [inputs, outputs, dimension, outputDimension], values: values)
    }

    let inputChannels = conv1[2]
    for (layer, weight) in kernels2.enumerated() {
      let key = "decoder.\(layer * 2)"
      let rows = weight.info.shape[1]
      // Keras output (h*S + w)*C + c is reference c*S*S + h*S + w, for the last layer of a
      // multi-channel decoder.
      let reordered = layer == kernels2.count - 1 && inputChannels > 1 && rows % inputChannels == 0
      let pixels = inputChannels > 0 ? rows / inputChannels : 0
      let kerasRow: (Int) -> Int = { row in (row % pixels) * inputChannels + row / pixels }
      add(key + ".weight", weight.info, shape: [rows, weight.info.shape[0]]) {
        let linear = TensorLayoutOps.permute($0, axes: [1, 0])
        return reordered ? TensorLayoutOps.reorderRows(linear, source: kerasRow) : linear
      }
      add(key + ".bias", bias(weight), shape: bias(weight).shape) {
        reordered ? TensorLayoutOps.reorderRows($0, source: kerasRow) : $0
      }
    }
    return ConvertedTensorSource(path: file.path, entries: entries, metadata: metadata)
  }
}
