import CapsFormat
import CapsRuntime
import CapsTestSupport
import Testing

/// Both Fixtures models against their PyTorch activations, through `capsconv verify`'s code path.
@Suite struct ParityTests {
  @Test(arguments: ["standard", "small"])
  func fixtureModelMatchesPyTorch(name: String) throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/\(name).h5"))
    let reference = try ReferenceActivations.read(at: Fixtures.path("activations/\(name).h5"))
    let report = try ParityCheck.run(network: CapsNetwork(model), reference: reference)
    #expect(report.skipped.isEmpty)
    #expect(Set(report.stages.map(\.stage)) == Set(ReferenceActivations.stageNames))
    for stage in report.stages {
      #expect(stage.passed, "\(name) \(stage.stage): max abs error \(stage.maxAbsoluteError)")
    }
    #expect(report.mismatchedImages.isEmpty)
    #expect(report.predictions == reference.predictions)
    #expect(reference.count >= 16)
  }
}

/// `capsconv verify` runs the reference in bounded batches: batches of 5 (the last one partial)
/// match PyTorch as one batch does.
@Suite struct BatchedParityTests {
  @Test func batchesOfFiveMatchPyTorch() throws {
    let (model, _) = try ModelFile.read(at: Fixtures.path("models/small.h5"))
    let reference = try ReferenceActivations.read(at: Fixtures.path("activations/small.h5"))
    let report = try ParityCheck.run(network: CapsNetwork(model), reference: reference, batchSize: 5)
    #expect(reference.count % 5 != 0)
    #expect(Set(report.stages.map(\.stage)) == Set(ReferenceActivations.stageNames))
    for stage in report.stages {
      #expect(stage.passed, "\(stage.stage): max abs error \(stage.maxAbsoluteError)")
    }
    #expect(report.predictions == reference.predictions)
  }
}
