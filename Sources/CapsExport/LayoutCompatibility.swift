import CapsFormat

/// What a model loses in a target layout: the values that layout's implementation hard-codes
/// differently (its code computes something else with the same weights) and what its files cannot
/// carry (the importer would read back another model).
///
/// The gram-ai and Keras layouts exist to be loaded by those implementations' code, so a model
/// that differs from what that code computes is REFUSED (``ExportError/Kind/cannotExpress``) unless
/// the caller accepts the differences (`capsconv export --allow-differences`), in which case they
/// are returned as warnings. The reference layout is CapsKit's own state_dict, which carries no
/// metadata: nothing is refused, and the notes name the `capsconv import` options that restore it.
public struct LayoutCompatibility: Sendable {
  /// Values the target's code computes with that this model does not (one line each).
  public var differences: [String] = []
  /// Information the written file does not carry, and how to restore it on import.
  public var notes: [String] = []

  /// The metadata `capsconv import` assigns to a file of `layout` (the values the gram-ai and
  /// Keras readers of CapsFormat record; the reference defaults for a plain state_dict).
  public static func importedMetadata(layout: CheckpointLayout, classCount: Int) -> ModelMetadata {
    var metadata = ModelMetadata.reference(classCount: classCount)
    switch layout {
    case .reference: break
    case .gramAI:
      metadata.squashEpsilon = 0
      metadata.normalization = .unit
    case .keras:
      metadata.softmaxAxis = .outputCapsules
      metadata.squashEpsilon = 1e-7
      metadata.normalization = .unit
    }
    return metadata
  }

  /// The differences between `model` and what `layout` expresses.
  public init(model: CapsModel, layout: CheckpointLayout) {
    let c = model.configuration
    let m = model.metadata
    let implied = Self.importedMetadata(layout: layout, classCount: c.outputCapsules)
    let name = layout.implementation
    var restore: [String] = []
    if m.routingIterations != implied.routingIterations {
      differences.append(
        "\(name) routes \(implied.routingIterations) times, this model \(m.routingIterations)")
      restore.append("--iterations \(m.routingIterations)")
    }
    if m.softmaxAxis != implied.softmaxAxis {
      differences.append(
        "\(name) takes the routing softmax over the \(Self.axisName(implied.softmaxAxis)) capsules, this model over the \(Self.axisName(m.softmaxAxis))"
      )
      restore.append("--softmax-axis \(m.softmaxAxis.rawValue)")
    }
    if m.squashEpsilon != implied.squashEpsilon {
      differences.append(
        "\(name) squashes with epsilon \(implied.squashEpsilon), this model with \(m.squashEpsilon)")
      restore.append("--squash-epsilon \(m.squashEpsilon)")
    }
    if m.normalization != implied.normalization {
      differences.append(
        "\(name) feeds (x/255 - \(implied.normalization.mean)) / \(implied.normalization.std), this model (x/255 - \(m.normalization.mean)) / \(m.normalization.std)"
      )
      restore.append("--normalize \(m.normalization.mean),\(m.normalization.std)")
    }
    if m.classLabels != implied.classLabels {
      notes.append("class labels are not stored in this format")
      if !m.classLabels.contains(where: { $0.contains(",") }) {
        restore.append("--labels \(m.classLabels.joined(separator: ","))")
      }
    }
    switch layout {
    case .reference: break
    case .gramAI:
      if c.inputChannels != 1 || c.inputSize != 28 {
        differences.append(
          "\(name) takes 28x28 single-channel images, this model \(c.inputSize)x\(c.inputSize)x\(c.inputChannels)"
        )
      }
      if !c.hasDecoder { differences.append("\(name) always has a decoder, this model has none") }
    case .keras:
      if !c.hasDecoder { differences.append("\(name) always has a decoder, this model has none") }
    }
    // What no file without metadata carries: the importer assumes stride 2 and finds the input
    // size from the decoder's output (28 without a decoder).
    if c.primaryStride != 2 {
      notes.append(
        "the primary stride \(c.primaryStride) is not stored: the file imports back with stride 2, another model"
      )
    }
    let decoderSide: Int? = c.decoderWidths.last.flatMap { last in
      let pixels = last / max(c.inputChannels, 1)
      let side = Int(Double(pixels).squareRoot().rounded())
      return side * side == pixels ? side : nil
    }
    if (decoderSide ?? 28) != c.inputSize {
      notes.append(
        "the input size \(c.inputSize) is not stored: the file imports back as \(decoderSide ?? 28)x\(decoderSide ?? 28)"
      )
    }
    if layout == .reference {
      notes += differences
      differences = []
    }
    if !restore.isEmpty {
      notes.append("import it back with: capsconv import FILE " + restore.joined(separator: " "))
    }
  }

  /// Whether the written file imports back as the same model (weights and configuration).
  public var losesStructure: Bool {
    notes.contains { $0.hasPrefix("the primary stride") || $0.hasPrefix("the input size") }
  }

  private static func axisName(_ axis: RoutingSoftmaxAxis) -> String {
    axis == .inputCapsules ? "input" : "output"
  }
}
