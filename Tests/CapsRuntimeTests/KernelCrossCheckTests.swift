import CapsFormat
import CapsRuntime
import CapsTestSupport
import Testing

/// The optimised runtime against the plain Double reference, stage by stage, on odd shapes, with
/// every GEMM kernel this CPU runs (forced per test, not only the one it picks).
@Suite struct KernelCrossCheckTests {
  static let cases:
    [(
      name: String, configuration: CapsNetConfiguration, axis: RoutingSoftmaxAxis, batch: Int, threads: Int,
      convolution: ConvolutionAlgorithm
    )] =
      [
        ("odd, batch 1", oddConfiguration, .inputCapsules, 1, 2, .direct),
        ("odd, batch 3", oddConfiguration, .inputCapsules, 3, 2, .direct),
        ("odd, batch 7, softmax over outputs", oddConfiguration, .outputCapsules, 7, 2, .direct),
        ("medium, batch 7", mediumConfiguration, .inputCapsules, 7, 2, .direct),
        // Fewer images than threads: thread 0 takes groups of 4 then 3, the threads split the columns.
        ("medium, batch 7, 8 threads", mediumConfiguration, .inputCapsules, 7, 8, .direct),
        // Split by images with groups of 3 (ceil(7 / 3)) on threads 1 and 2.
        ("odd, batch 7, 3 threads", oddConfiguration, .inputCapsules, 7, 3, .direct),
        // The reference's 9 x 9 / 2 primary kernel on an odd grid (5 x 5: the last tiles half
        // outside), with Winograd and direct, split by images and by columns.
        ("nines, batch 5, Winograd", ninesConfiguration, .inputCapsules, 5, 2, .winograd),
        ("nines, batch 5, direct", ninesConfiguration, .inputCapsules, 5, 2, .direct),
        ("nines, batch 1, Winograd, columns split", ninesConfiguration, .inputCapsules, 1, 3, .winograd),
        (
          "nines, batch 3, Winograd, softmax over outputs", ninesConfiguration, .outputCapsules, 3, 1,
          .winograd
        ),
        ("sevens, batch 2, Winograd", sevensConfiguration, .inputCapsules, 2, 2, .winograd),
        ("tens, batch 6, Winograd, 4 threads", tensConfiguration, .inputCapsules, 6, 4, .winograd),
      ]

  @Test(arguments: 0..<cases.count, GEMMKernel.supported)
  func matchesReferenceForward(caseIndex: Int, kernel: GEMMKernel) throws {
    let testCase = Self.cases[caseIndex]
    let model = try randomModel(
      testCase.configuration, softmaxAxis: testCase.axis, seed: UInt64(caseIndex + 1))
    let network = CapsNetwork(model, kernel: kernel)
    // The convolution each case names where the network takes it (direct otherwise).
    let convolution: ConvolutionAlgorithm = network.supportsWinograd ? testCase.convolution : .direct
    #expect(network.supportsWinograd == (testCase.configuration.primaryKernel >= 7))
    let plan = try InferencePlan(
      network: network, maxBatch: testCase.batch, threads: testCase.threads, recordsIntermediates: true,
      convolution: convolution)
    #expect(plan.convolution == convolution)
    let session = InferenceSession(network: network, plan: plan)
    let pixels = randomPixels(testCase.configuration, count: testCase.batch, seed: UInt64(100 + caseIndex))
    pixels.withUnsafeBufferPointer { session.run(batch: testCase.batch, pixels: $0, reconstruct: true) }

    let reference = ReferenceForward(model: model)
    let imageSize = testCase.configuration.inputSize * testCase.configuration.inputSize
    for image in 0..<testCase.batch {
      let expected = reference.run(pixels: Array(pixels[(image * imageSize)..<((image + 1) * imageSize)]))
      let pairs: [(InferenceStage, [Double])] = [
        (.input, expected.input), (.conv1, expected.conv1), (.conv2, expected.conv2),
        (.primary, expected.primary),
        (.predictionVectors, expected.predictionVectors), (.couplings, expected.couplings),
        (.digitCapsules, expected.digitCapsules), (.lengths, expected.lengths),
        (.reconstruction, expected.reconstruction),
      ]
      for (stage, values) in pairs {
        let actual = session.stageOutput(stage, image: image).values
        let scale = max(1, values.map(abs).max() ?? 1)
        let error = maxAbsoluteDifference(actual, values)
        #expect(
          error <= 2e-5 * scale, "\(testCase.name), \(kernel): stage \(stage) image \(image) error \(error)")
      }
      #expect(
        session.prediction(at: image) == expected.prediction, "\(testCase.name), \(kernel): image \(image)")
    }
  }

  @Test func batchGivesEachImageTheSameResultAsAlone() throws {
    let model = try randomModel(mediumConfiguration, seed: 42)
    let network = CapsNetwork(model)
    let pixels = randomPixels(mediumConfiguration, count: 64, seed: 7)
    let imageSize = mediumConfiguration.inputSize * mediumConfiguration.inputSize
    let alone = try InferenceSession(network: network, maxBatch: 1)
    var single: [[Float]] = []
    for image in 0..<64 {
      pixels[(image * imageSize)..<((image + 1) * imageSize)].withUnsafeBufferPointer {
        alone.run(batch: 1, pixels: $0)
      }
      single.append(alone.withLengths { Array($0) })
    }
    for batch in [1, 7, 64] {
      let session = try InferenceSession(network: network, maxBatch: batch)
      pixels.withUnsafeBufferPointer { session.run(batch: batch, pixels: $0) }
      for image in 0..<batch {
        let lengths = (0..<mediumConfiguration.outputCapsules).map { session.length(at: image, capsule: $0) }
        let error = zip(lengths, single[image]).map { abs($0 - $1) }.max() ?? 0
        #expect(error <= 1e-6, "batch \(batch) image \(image): \(error)")
      }
    }
  }
}
