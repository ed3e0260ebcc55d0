import CapsFormat
import CapsTestSupport
import Testing

/// A model's metadata is immutable; `with(metadata:)` gives a copy with new metadata, validated
/// as the initializer validates it.
@Suite struct ModelMetadataTests {
  static let configuration = CapsNetConfiguration(
    inputSize: 8, inputChannels: 1, conv1Channels: 2, conv1Kernel: 3, primaryKernel: 3, primaryStride: 2,
    primaryTypes: 2, primaryDimension: 2, outputCapsules: 3, outputDimension: 2, decoderWidths: [])

  @Test func validMetadataIsTakenAndTheWeightsKept() throws {
    let model = try uniformModel(Self.configuration, value: 0.25)
    var metadata = model.metadata
    metadata.routingIterations = 7
    metadata.classLabels = ["cat", "dog", "eel"]
    metadata.normalization = InputNormalization(mean: 0.5, std: 0.25)
    let changed = try model.with(metadata: metadata)
    #expect(changed.metadata == metadata)
    #expect(model.metadata.routingIterations == 3)  // the original is unchanged
    #expect(changed.configuration == model.configuration)
    #expect(changed.orderedKeys.allSatisfy { changed.tensor($0) == model.tensor($0) })
  }

  /// Each kind of invalid metadata is refused with the problem named, as `CapsModel.init` refuses it.
  @Test(arguments: [
    ("routing", "routing iterations must be 1...100, found 0"),
    ("epsilon", "squash epsilon must be in [0, 1), found 1.0"),
    ("labels", "2 class labels for 3 output capsules"),
    ("duplicate", "class label 'a' is given twice (classes 0 and 2)"),
    ("normalization", "input normalisation needs a finite mean and a positive std, found 0.0, 0.0"),
  ])
  func invalidMetadataIsRefused(change: String, problem: String) throws {
    let model = try uniformModel(Self.configuration, value: 0.25)
    var metadata = model.metadata
    switch change {
    case "routing": metadata.routingIterations = 0
    case "epsilon": metadata.squashEpsilon = 1
    case "labels": metadata.classLabels = ["a", "b"]
    case "duplicate": metadata.classLabels = ["a", "b", "a"]
    default: metadata.normalization = InputNormalization(mean: 0, std: 0)
    }
    #expect {
      _ = try model.with(metadata: metadata, origin: "m.h5")
    } throws: { error in
      (error as? ModelValidationError)?.messages == [problem] && "\(error)" == "m.h5: \(problem)"
    }
    // The initializer refuses the same metadata with the same problem.
    #expect {
      _ = try CapsModel(
        configuration: model.configuration, metadata: metadata, weights: model.weights, origin: "m.h5")
    } throws: { error in
      (error as? ModelValidationError)?.messages == [problem]
    }
  }
}
