// classify-digit DIGIT.png [MODEL]: the class of one PNG digit, with the built-in model
// (Fixtures/models/standard.h5, run from the repository root) or the given model file.
import CapsFormat
import CapsImage
import CapsRuntime
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 2 || arguments.count == 3 else {
  FileHandle.standardError.write(Data("usage: classify-digit DIGIT.png [MODEL]\n".utf8))
  exit(64)
}
let modelPath = arguments.count == 3 ? arguments[2] : "Fixtures/models/standard.h5"
do {
  let (model, _) = try ModelFile.read(at: modelPath)  // validated; throws FormatError
  let network = CapsNetwork(model)  // packs the weights once; immutable, Sendable
  let session = try InferenceSession(network: network, maxBatch: 1)  // allocates its arena once

  // Any PNG (photo, scan, drawing, MNIST-style 28x28) becomes the model's input as capsinfer makes
  // it: white digit on black, 0...255, inputSize x inputSize. Throws ImageError (e.g. no digit).
  let digit = try ImageFile.readDigit(atPath: arguments[1], size: network.configuration.inputSize)
  session.run(pixels: digit.pixels)  // one image: pixels.count / (inputSize^2); no allocation

  let best = session.prediction(at: 0)
  let length = session.length(at: 0, capsule: best)  // a score in [0, 1), not a probability
  print("\(arguments[1]): \(model.metadata.classLabels[best]) (capsule length \(length))")
} catch {
  FileHandle.standardError.write(Data("classify-digit: \(error)\n".utf8))
  exit(1)
}
