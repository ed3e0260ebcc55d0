import CapsFormat
import CapsRuntime
import CapsTestSupport
import CapsVerify
import Testing

/// Both Fixtures models against their PyTorch activations, through `capsconv verify`'s code path.
@Suite struct ParityTests {
  @Test(arguments: ["standard", "small"], ConvolutionAlgorithm.allCases)
  func fixtureModelMatchesPyTorch(name: String, convolution: ConvolutionAlgorithm) throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/\(name).h5"))
    let reference = try ReferenceActivations.read(at: Fixtures.path("activations/\(name).h5"))
    let network = CapsNetwork(model)
    #expect(network.supportsWinograd)  // both use the reference's 9 x 9, stride 2
    let report = try ParityCheck.run(network: network, reference: reference, convolution: convolution)
    #expect(report.skipped.isEmpty)
    #expect(Set(report.stages.map(\.stage)) == Set(ReferenceActivations.stageNames))
    for stage in report.stages {
      #expect(stage.passed, "\(name) \(stage.stage): max abs error \(stage.maxAbsoluteError)")
    }
    #expect(report.mismatchedImages.isEmpty)
    #expect(report.predictions == reference.predictions)
    #expect(reference.count >= 16)
  }

  /// verify's rule is NumPy's allclose with an atol that follows each stage's scale: a model whose
  /// conv2 reaches about 500 (Fixtures/parity/large_conv2, recorded by PyTorch) has rounding errors
  /// above a fixed 1e-4, which the old absolute tolerance refused, and passes.
  @Test(arguments: ConvolutionAlgorithm.allCases)
  func toleranceFollowsTheScaleOfEachStage(convolution: ConvolutionAlgorithm) throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("parity/large_conv2.pth"))
    let reference = try ReferenceActivations.read(at: Fixtures.path("parity/large_conv2.activations.h5"))
    let network = CapsNetwork(model)
    let report = try ParityCheck.run(network: network, reference: reference, convolution: convolution)
    #expect(report.passed, "\(report.firstFailingStage ?? "classes")")
    #expect(report.absent == ["u_hat", "coupling"])
    let conv2 = try #require(report.stages.first { $0.stage == "conv2" })
    #expect(conv2.largestReference > 400)
    #expect(conv2.absoluteTolerance == 1e-4 * conv2.largestReference)
    #expect(conv2.maxAbsoluteError > 1e-4 && conv2.failingElements == 0)

    var fixed = ParityCheck.Tolerances()
    fixed.standard = ParityCheck.Tolerance(relative: 0, absolute: 1e-4, absoluteScale: 0)  // the old rule
    let old = try ParityCheck.run(
      network: network, reference: reference, tolerances: fixed, convolution: convolution)
    #expect(old.firstFailingStage == "conv2")
    let oldConv2 = try #require(old.stages.first { $0.stage == "conv2" })
    #expect(oldConv2.failingElements > 0 && oldConv2.absoluteTolerance == 1e-4)
  }
}

/// `capsconv verify` runs the reference in bounded batches: batches of 5 (the last one partial)
/// match PyTorch as one batch does.
@Suite struct BatchedParityTests {
  @Test func batchesOfFiveMatchPyTorch() throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/small.h5"))
    let reference = try ReferenceActivations.read(at: Fixtures.path("activations/small.h5"))
    let report = try ParityCheck.run(
      network: CapsNetwork(model), reference: reference, batchSize: 5, convolution: .winograd)
    #expect(reference.count % 5 != 0)
    #expect(Set(report.stages.map(\.stage)) == Set(ReferenceActivations.stageNames))
    for stage in report.stages {
      #expect(stage.passed, "\(stage.stage): max abs error \(stage.maxAbsoluteError)")
    }
    #expect(report.predictions == reference.predictions)
  }
}

/// A reference the model cannot be compared with is a `VerificationError` of a matchable kind,
/// naming the reference file, before anything runs.
@Suite struct VerificationErrorTests {
  @Test func aReferenceOfOtherRoutingIterationsIsRefusedWithItsKind() throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/small.h5"))
    let path = Fixtures.path("activations/small.h5")
    let reference = try ReferenceActivations.read(at: path)
    var metadata = model.metadata
    metadata.routingIterations = reference.routingIterations + 1
    let network = CapsNetwork(try model.with(metadata: metadata))
    #expect {
      _ = try ParityCheck.run(network: network, reference: reference)
    } throws: { error in
      guard let error = error as? VerificationError else { return false }
      return error.kind == .routingIterationsDiffer && error.path == path
        && error.description
          == "\(path): made with \(reference.routingIterations) routing iterations, the model uses \(reference.routingIterations + 1)"
    }
  }
}
