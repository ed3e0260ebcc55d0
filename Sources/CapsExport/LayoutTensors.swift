import CapsFormat

/// A model's weights in another implementation's key names, shapes and orders: the exact inverses
/// of CapsFormat's import conversions (Sources/CapsFormat/Layouts), values moved, never computed.
enum LayoutTensors {
  /// The reference state_dict, in module order.
  static func reference(_ model: CapsModel) -> [(key: String, tensor: Tensor)] {
    model.orderedKeys.map { ($0, model.tensor($0)) }
  }

  /// gram-ai/capsule-networks: conv2's channels d*T + t split into D convolutions of T channels
  /// (`primary_capsules.capsules.{d}`), `route_weights` [J, I, D, M] = W with its first two axes
  /// swapped; conv1 and the decoder keep their names.
  static func gramAI(_ model: CapsModel) -> [(key: String, tensor: Tensor)] {
    let c = model.configuration
    var result: [(key: String, tensor: Tensor)] = [
      ("conv1.weight", model.tensor("conv1.weight")), ("conv1.bias", model.tensor("conv1.bias")),
    ]
    let weight = model.tensor("conv2.weight")
    let bias = model.tensor("conv2.bias")
    let rowWidth = weight.count / max(c.primaryChannels, 1)
    for d in 0..<c.primaryDimension {
      let rows = (d * c.primaryTypes)..<((d + 1) * c.primaryTypes)
      var shape = weight.shape
      shape[0] = c.primaryTypes
      result.append(
        (
          "primary_capsules.capsules.\(d).weight",
          Tensor(
            shape: shape,
            values: Array(weight.values[(rows.lowerBound * rowWidth)..<(rows.upperBound * rowWidth)]))
        ))
      result.append(
        (
          "primary_capsules.capsules.\(d).bias",
          Tensor(shape: [c.primaryTypes], values: Array(bias.values[rows]))
        ))
    }
    result.append(
      (
        "digit_capsules.route_weights",
        TensorLayoutOps.permute(model.tensor("digit_capsules.weight"), axes: [1, 0, 2, 3])
      ))
    for key in model.orderedKeys where key.hasPrefix("decoder.") { result.append((key, model.tensor(key))) }
    return result
  }

  /// One Keras layer: its name and its weights (weight name, tensor).
  typealias KerasLayer = (name: String, weights: [(name: String, tensor: Tensor)])

  /// XifengGuo/CapsNet-Keras: HWIO kernels, the primary channels in Keras's order t*D + d,
  /// `digitcaps/W:0` [J, I, M, D] over Keras's capsule order (h*G + w)*T + t, dense kernels
  /// (in, out) with the decoder's output in HWC order. Layers in CapsNet-Keras's order, the
  /// weightless ones included (their groups have empty `weight_names`).
  static func keras(_ model: CapsModel) -> [KerasLayer] {
    let c = model.configuration
    let (types, dimension, cells) = (c.primaryTypes, c.primaryDimension, c.primaryGrid * c.primaryGrid)
    // Keras channel t*D + d holds reference channel d*T + t.
    let referenceChannel: (Int) -> Int = { keras in (keras % dimension) * types + keras / dimension }
    let conv2 = TensorLayoutOps.reorderRows(model.tensor("conv2.weight"), source: referenceChannel)
    let conv2Bias = TensorLayoutOps.reorderRows(model.tensor("conv2.bias"), source: referenceChannel)
    // Keras capsule (h*G + w)*T + t is reference capsule t*G*G + h*G + w.
    let w = TensorLayoutOps.reorderRows(model.tensor("digit_capsules.weight")) { keras in
      (keras % types) * cells + keras / types
    }
    var dense: [(name: String, tensor: Tensor)] = []
    let layers = c.decoderWidths.count
    for layer in 0..<layers {
      var linear = model.tensor("decoder.\(layer * 2).weight")  // (out, in)
      var bias = model.tensor("decoder.\(layer * 2).bias")
      if layer == layers - 1, c.inputChannels > 1 {
        // Keras output (h*S + w)*C + ch is reference output ch*S*S + h*S + w.
        let channels = c.inputChannels
        let pixels = linear.shape[0] / channels
        let referenceRow: (Int) -> Int = { keras in (keras % channels) * pixels + keras / channels }
        linear = TensorLayoutOps.reorderRows(linear, source: referenceRow)
        bias = TensorLayoutOps.reorderRows(bias, source: referenceRow)
      }
      dense.append(("dense_\(layer + 1)/kernel:0", TensorLayoutOps.permute(linear, axes: [1, 0])))
      dense.append(("dense_\(layer + 1)/bias:0", bias))
    }
    let all: [KerasLayer] = [
      ("input_1", []),
      (
        "conv1",
        [
          ("conv1/kernel:0", TensorLayoutOps.permute(model.tensor("conv1.weight"), axes: [2, 3, 1, 0])),
          ("conv1/bias:0", model.tensor("conv1.bias")),
        ]
      ),
      (
        "primarycap_conv2d",
        [
          ("primarycap_conv2d/kernel:0", TensorLayoutOps.permute(conv2, axes: [2, 3, 1, 0])),
          ("primarycap_conv2d/bias:0", conv2Bias),
        ]
      ),
      ("primarycap_reshape", []), ("primarycap_squash", []),
      ("digitcaps", [("digitcaps/W:0", TensorLayoutOps.permute(w, axes: [1, 0, 3, 2]))]),
      ("input_2", []), ("mask_1", []), ("capsnet", []), ("mask_2", []),
      ("decoder", dense),
    ]
    return all.filter { layers > 0 || $0.name != "decoder" }
  }
}
