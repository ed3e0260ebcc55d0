import CapsFormat
import CapsRuntime
import CapsTestSupport
import Foundation
import Testing

/// `InferenceSession.decode(capsules:count:into:)` and `maskedCapsules(image:into:)`, the decoder-only
/// entry point behind `capsinfer --perturb`.
@Suite struct DecoderOnlyTests {
  /// The decoder in Double with loops (Linear + ReLU, last Linear + sigmoid), from the model's tensors.
  static func referenceDecode(_ model: CapsModel, _ input: [Float]) -> [Double] {
    var activation = input.map(Double.init)
    let widths = model.configuration.decoderWidths
    for (layer, width) in widths.enumerated() {
      let weight = model.tensor("decoder.\(layer * 2).weight").values
      let bias = model.tensor("decoder.\(layer * 2).bias").values
      let last = layer == widths.count - 1
      activation = (0..<width).map { o in
        var sum = Double(bias[o])
        for k in 0..<activation.count { sum += Double(weight[o * activation.count + k]) * activation[k] }
        return last ? 1 / (1 + exp(-sum)) : max(0, sum)
      }
    }
    return activation
  }

  @Test(arguments: [(oddConfiguration, 3, 2), (mediumConfiguration, 5, 2), (oddConfiguration, 2, 1)])
  func decodingTheMaskedCapsuleRepeatsTheReconstructionExactly(
    configuration: CapsNetConfiguration, batch: Int, threads: Int
  ) throws {
    let model = try randomModel(configuration, seed: 7)
    let network = CapsNetwork(model)
    let session = InferenceSession(
      network: network, plan: try InferencePlan(network: network, maxBatch: batch, threads: threads))
    let pixels = randomPixels(configuration, count: batch, seed: 11)
    pixels.withUnsafeBufferPointer { session.run(batch: batch, pixels: $0, reconstruct: true) }
    let reconstructions = session.withReconstructions { Array($0) }
    let lengths = session.withLengths { Array($0) }
    let capsuleWidth = configuration.outputCapsules * configuration.outputDimension
    let area = configuration.inputSize * configuration.inputSize
    let d = configuration.outputDimension

    var masked = [Float](repeating: .nan, count: capsuleWidth)
    var inputs = [Float](repeating: 0, count: batch * capsuleWidth)
    var outputs = [Float](repeating: .nan, count: batch * area)
    for image in 0..<batch {
      masked.withUnsafeMutableBufferPointer { session.maskedCapsules(image: image, into: $0) }
      let predicted = session.prediction(at: image)
      let capsules = session.withDigitCapsules {
        Array($0[(image * capsuleWidth)..<((image + 1) * capsuleWidth)])
      }
      for i in 0..<capsuleWidth {
        #expect(masked[i] == (i / d == predicted ? capsules[i] : 0), "image \(image) value \(i)")
      }
      // One at a time, and all images at once with one dimension offset in all but the first.
      masked.withUnsafeBufferPointer { input in
        outputs.withUnsafeMutableBufferPointer { session.decode(capsules: input, count: 1, into: $0) }
      }
      #expect(Array(outputs[0..<area]) == Array(reconstructions[(image * area)..<((image + 1) * area)]))
      for q in 0..<batch {
        for i in 0..<capsuleWidth { inputs[q * capsuleWidth + i] = masked[i] }
        if q > 0 { inputs[q * capsuleWidth + predicted * d + (q - 1) % d] += 0.25 * Float(q) }
      }
      inputs.withUnsafeBufferPointer { input in
        outputs.withUnsafeMutableBufferPointer { session.decode(capsules: input, count: batch, into: $0) }
      }
      #expect(Array(outputs[0..<area]) == Array(reconstructions[(image * area)..<((image + 1) * area)]))
      for q in 0..<batch {
        let expected = Self.referenceDecode(
          model, Array(inputs[(q * capsuleWidth)..<((q + 1) * capsuleWidth)]))
        let got = outputs[(q * area)..<((q + 1) * area)]
        let worst = zip(got, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
        #expect(worst < 1e-5, "image \(image), input \(q): \(worst)")
        if q > 0 {
          #expect(got.elementsEqual(outputs[0..<area]) == false, "the offset changed nothing")
        }
      }
    }
    // The last run's outputs are untouched.
    #expect(session.withReconstructions { Array($0) } == reconstructions)
    #expect(session.withLengths { Array($0) } == lengths)
  }
}
