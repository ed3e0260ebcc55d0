/// Whose checkpoint layout a file follows: the reference (labml) names and index orders, or another
/// implementation's, converted exactly to the reference on reading (docs/FORMAT.md, section 5).
public enum CheckpointLayout: String, Sendable, CaseIterable, Codable {
  /// labml's `MNISTCapsuleNetworkModel` keys and orders; what CapsKit writes.
  case reference
  /// gram-ai/capsule-networks (PyTorch): 8 primary convolutions, `route_weights` [J, I, D, M].
  case gramAI = "gram-ai"
  /// XifengGuo/CapsNet-Keras weights in HDF5 (`save_weights` or `model.save`).
  case keras

  /// The implementation, for messages.
  public var implementation: String {
    switch self {
    case .reference: "labml reference"
    case .gramAI: "gram-ai/capsule-networks"
    case .keras: "XifengGuo/CapsNet-Keras"
    }
  }
}

/// What the keys of a state_dict say about its layout.
enum LayoutDetection: Equatable {
  case layout(CheckpointLayout)
  /// A known implementation whose checkpoints cannot be converted to the reference order.
  case refused(implementation: String, reason: String)

  /// Decides from canonical key names (after `module.` and group stripping). Unknown key sets are
  /// read as the reference layout, whose reader then names every missing or unexpected key.
  static func detect(keys: Set<String>) -> LayoutDetection {
    let jindongwang = ["conv_layer.conv.weight", "digit_capsules.W"]
    if jindongwang.contains(where: keys.contains)
      || keys.contains(where: { $0.hasPrefix("decoder.reconstraction_layers.") })
    {
      return .refused(
        implementation: "jindongwang/Pytorch-CapsuleNet",
        reason:
          "its primary capsules are a plain view(N, 1152, 8) of the stacked convolutions, so each capsule's 8 components are 8 consecutive outputs of one convolution (neighbouring positions, crossing rows and channels), which no reordering of the reference capsules gives, and its routing logits are shared across the batch (results depend on the other images); the CapsKit runtime supports neither"
      )
    }
    let adambielski = ["digitCaps.weights", "primaryCaps.conv.weight", "digitCaps.routing_module.b"]
    if adambielski.contains(where: keys.contains) {
      return .refused(
        implementation: "adambielski/CapsNet-pytorch",
        reason:
          "its routing starts from a learned prior 'digitCaps.routing_module.b' [1152, 10] and squashes once more before iterating, while the CapsKit runtime starts routing from zero logits"
      )
    }
    if keys.contains("digit_capsules.route_weights")
      || keys.contains(where: { $0.hasPrefix("primary_capsules.capsules.") })
    {
      return .layout(.gramAI)
    }
    return .layout(.reference)
  }
}
