/// The architecture of a capsule network, as far as its weights and metadata define it.
///
/// Everything that has a tensor behind it is inferred from the tensors' shapes; `inputSize` and
/// `primaryStride` are not in any shape and come from metadata (defaults 28 and 2), except that a
/// decoder whose output is a square image fixes `inputSize`.
public struct CapsNetConfiguration: Sendable, Equatable, Codable {
  /// Side of the square input image (28 for MNIST).
  public var inputSize: Int
  /// Input channels (1 for gray digits).
  public var inputChannels: Int
  /// Output channels of the first convolution.
  public var conv1Channels: Int
  /// Kernel side of the first convolution (stride 1, no padding).
  public var conv1Kernel: Int
  /// Kernel side of the primary-capsule convolution (no padding).
  public var primaryKernel: Int
  /// Stride of the primary-capsule convolution.
  public var primaryStride: Int
  /// Primary capsule types (32 in the standard model).
  public var primaryTypes: Int
  /// Components of a primary capsule (8).
  public var primaryDimension: Int
  /// Output (digit) capsules, one per class (10).
  public var outputCapsules: Int
  /// Components of an output capsule (16).
  public var outputDimension: Int
  /// Widths of the decoder's linear layers, last = inputSize²; empty when the model has no decoder.
  public var decoderWidths: [Int]

  /// Creates a configuration from its parts; `validate()` checks that they agree.
  public init(
    inputSize: Int, inputChannels: Int, conv1Channels: Int, conv1Kernel: Int, primaryKernel: Int,
    primaryStride: Int, primaryTypes: Int, primaryDimension: Int, outputCapsules: Int,
    outputDimension: Int, decoderWidths: [Int]
  ) {
    self.inputSize = inputSize
    self.inputChannels = inputChannels
    self.conv1Channels = conv1Channels
    self.conv1Kernel = conv1Kernel
    self.primaryKernel = primaryKernel
    self.primaryStride = primaryStride
    self.primaryTypes = primaryTypes
    self.primaryDimension = primaryDimension
    self.outputCapsules = outputCapsules
    self.outputDimension = outputDimension
    self.decoderWidths = decoderWidths
  }

  /// Side of the first convolution's output (20).
  public var conv1OutputSize: Int { inputSize - conv1Kernel + 1 }
  /// Side of the primary capsule grid (6).
  public var primaryGrid: Int {
    let span = conv1OutputSize - primaryKernel
    return span < 0 || primaryStride < 1 ? 0 : span / primaryStride + 1
  }
  /// Channels of the primary-capsule convolution: types × dimension (256).
  public var primaryChannels: Int { primaryTypes * primaryDimension }
  /// Input capsules to the routing: types × grid² (1152).
  public var inputCapsules: Int { primaryTypes * primaryGrid * primaryGrid }
  /// Whether the model carries a reconstruction decoder.
  public var hasDecoder: Bool { !decoderWidths.isEmpty }

  /// Checkpoint keys and their expected shapes, in the reference module order.
  public var expectedShapes: [(key: String, shape: [Int])] {
    var shapes: [(String, [Int])] = [
      ("conv1.weight", [conv1Channels, inputChannels, conv1Kernel, conv1Kernel]),
      ("conv1.bias", [conv1Channels]),
      ("conv2.weight", [primaryChannels, conv1Channels, primaryKernel, primaryKernel]),
      ("conv2.bias", [primaryChannels]),
      ("digit_capsules.weight", [inputCapsules, outputCapsules, primaryDimension, outputDimension]),
    ]
    var inputs = outputCapsules * outputDimension
    for (index, width) in decoderWidths.enumerated() {
      shapes.append(("decoder.\(index * 2).weight", [width, inputs]))
      shapes.append(("decoder.\(index * 2).bias", [width]))
      inputs = width
    }
    return shapes
  }

  /// Learned parameters in all tensors (8,215,568 for the standard model).
  public var parameterCount: Int { expectedShapes.reduce(0) { $0 + $1.shape.reduce(1, *) } }

  /// Multiply-adds per image by stage, counted as 2 FLOPs each.
  public func flopsPerImage(routingIterations: Int) -> [(stage: String, flops: Int)] {
    let conv1 = conv1OutputSize * conv1OutputSize * conv1Channels * inputChannels * conv1Kernel * conv1Kernel
    let conv2 = primaryGrid * primaryGrid * primaryChannels * conv1Channels * primaryKernel * primaryKernel
    let uHat = inputCapsules * outputCapsules * primaryDimension * outputDimension
    // Per iteration: s (weighted sum) and the agreement update, each one multiply-add per u_hat
    // value (inputs x outputs x output dimension).
    let routing = 2 * inputCapsules * outputCapsules * outputDimension * routingIterations
    var decoder = 0
    var inputs = outputCapsules * outputDimension
    for width in decoderWidths {
      decoder += inputs * width
      inputs = width
    }
    return [
      ("conv1", 2 * conv1), ("primary conv", 2 * conv2), ("u_hat", 2 * uHat),
      ("routing (\(routingIterations) iterations)", 2 * routing), ("decoder", 2 * decoder),
    ]
  }

  /// Problems with the configuration itself (sizes that cannot produce a capsule grid).
  public func validate() -> [String] {
    var problems: [String] = []
    let positive = [
      ("input size", inputSize), ("input channels", inputChannels), ("conv1 channels", conv1Channels),
      ("conv1 kernel", conv1Kernel), ("primary kernel", primaryKernel), ("primary stride", primaryStride),
      ("primary types", primaryTypes), ("primary dimension", primaryDimension),
      ("output capsules", outputCapsules), ("output dimension", outputDimension),
    ]
    for (name, value) in positive where value < 1 {
      problems.append("\(name) must be at least 1, found \(value)")
    }
    if problems.isEmpty, primaryGrid < 1 {
      problems.append(
        "a \(inputSize)x\(inputSize) input leaves no primary capsule grid after kernels \(conv1Kernel) and \(primaryKernel)"
      )
    }
    if let last = decoderWidths.last, last != inputSize * inputSize * inputChannels {
      problems.append(
        "the decoder outputs \(last) values, expected \(inputSize * inputSize * inputChannels) (\(inputSize)x\(inputSize))"
      )
    }
    return problems
  }
}
