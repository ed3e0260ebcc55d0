import CapsFormat
import Foundation

/// A plain, obviously correct forward pass in Double, written from
/// docs/ARCHITECTURE.md with loops only, for cross-checking the optimised kernels.
public struct ReferenceForward {
  /// Every stage of one image, in the reference (PyTorch) layouts.
  public struct Stages {
    public var input: [Double] = []  // [Cin, S, S]
    public var conv1: [Double] = []  // [C1, H1, H1]
    public var conv2: [Double] = []  // [C2, G, G]
    public var primary: [Double] = []  // [I, D]
    public var predictionVectors: [Double] = []  // [I, J, M]
    public var couplings: [Double] = []  // [R, I, J]
    public var digitCapsules: [Double] = []  // [J, M]
    public var lengths: [Double] = []  // [J]
    public var prediction = 0
    public var reconstruction: [Double] = []  // [P]
  }

  public let model: CapsModel

  public init(model: CapsModel) { self.model = model }

  private func weights(_ key: String) -> [Double] { model.tensor(key).values.map(Double.init) }

  /// Runs one image given as 0...255 pixels.
  public func run(pixels: [Float]) -> Stages {
    let c = model.configuration
    let m = model.metadata
    var stages = Stages()
    // Normalisation in Float, exactly as the reference preprocesses.
    stages.input = pixels.map {
      Double(($0 / 255 - Float(m.normalization.mean)) / Float(m.normalization.std))
    }
    stages.conv1 = convolution(
      stages.input, channels: c.inputChannels, side: c.inputSize, weight: weights("conv1.weight"),
      bias: weights("conv1.bias"), outputs: c.conv1Channels, kernel: c.conv1Kernel, stride: 1
    ).map { max(0, $0) }
    stages.conv2 = convolution(
      stages.conv1, channels: c.conv1Channels, side: c.conv1OutputSize, weight: weights("conv2.weight"),
      bias: weights("conv2.bias"), outputs: c.primaryChannels, kernel: c.primaryKernel,
      stride: c.primaryStride)

    // u[i = t*G*G + h*G + w][d] = x2[c = d*T + t][h][w]
    let grid = c.primaryGrid
    let epsilon = m.squashEpsilon
    var u = [Double](repeating: 0, count: c.inputCapsules * c.primaryDimension)
    for t in 0..<c.primaryTypes {
      for h in 0..<grid {
        for w in 0..<grid {
          let i = t * grid * grid + h * grid + w
          for d in 0..<c.primaryDimension {
            u[i * c.primaryDimension + d] = stages.conv2[((d * c.primaryTypes + t) * grid + h) * grid + w]
          }
        }
      }
    }
    stages.primary = squash(u, dimension: c.primaryDimension, epsilon: epsilon)

    let (inputs, outputs, dIn, dOut) = (
      c.inputCapsules, c.outputCapsules, c.primaryDimension, c.outputDimension
    )
    let w = weights("digit_capsules.weight")
    var uHat = [Double](repeating: 0, count: inputs * outputs * dOut)
    for i in 0..<inputs {
      for j in 0..<outputs {
        for mm in 0..<dOut {
          var sum = 0.0
          for d in 0..<dIn {
            sum += stages.primary[i * dIn + d] * w[((i * outputs + j) * dIn + d) * dOut + mm]
          }
          uHat[(i * outputs + j) * dOut + mm] = sum
        }
      }
    }
    stages.predictionVectors = uHat

    var logits = [Double](repeating: 0, count: inputs * outputs)
    var v = [Double](repeating: 0, count: outputs * dOut)
    for _ in 0..<m.routingIterations {
      var couplings = [Double](repeating: 0, count: inputs * outputs)
      if m.softmaxAxis == .inputCapsules {
        for j in 0..<outputs {
          let column = (0..<inputs).map { logits[$0 * outputs + j] }
          let top = column.max() ?? 0
          let total = column.reduce(0) { $0 + exp($1 - top) }
          for i in 0..<inputs { couplings[i * outputs + j] = exp(column[i] - top) / total }
        }
      } else {
        for i in 0..<inputs {
          let row = Array(logits[(i * outputs)..<((i + 1) * outputs)])
          let top = row.max() ?? 0
          let total = row.reduce(0) { $0 + exp($1 - top) }
          for j in 0..<outputs { couplings[i * outputs + j] = exp(row[j] - top) / total }
        }
      }
      stages.couplings += couplings
      var s = [Double](repeating: 0, count: outputs * dOut)
      for i in 0..<inputs {
        for j in 0..<outputs {
          for mm in 0..<dOut {
            s[j * dOut + mm] += couplings[i * outputs + j] * uHat[(i * outputs + j) * dOut + mm]
          }
        }
      }
      v = squash(s, dimension: dOut, epsilon: epsilon)
      for i in 0..<inputs {
        for j in 0..<outputs {
          var agreement = 0.0
          for mm in 0..<dOut { agreement += v[j * dOut + mm] * uHat[(i * outputs + j) * dOut + mm] }
          logits[i * outputs + j] += agreement
        }
      }
    }
    stages.digitCapsules = v
    stages.lengths = (0..<outputs).map { j in
      (0..<dOut).reduce(0.0) { $0 + v[j * dOut + $1] * v[j * dOut + $1] }.squareRoot()
    }
    stages.prediction = stages.lengths.indices.max { stages.lengths[$0] < stages.lengths[$1] } ?? 0

    if c.hasDecoder {
      var activation = [Double](repeating: 0, count: outputs * dOut)
      for mm in 0..<dOut { activation[stages.prediction * dOut + mm] = v[stages.prediction * dOut + mm] }
      for (layer, width) in c.decoderWidths.enumerated() {
        let weight = weights("decoder.\(layer * 2).weight")
        let bias = weights("decoder.\(layer * 2).bias")
        let last = layer == c.decoderWidths.count - 1
        activation = (0..<width).map { o in
          var sum = bias[o]
          for k in 0..<activation.count { sum += weight[o * activation.count + k] * activation[k] }
          return last ? 1 / (1 + exp(-sum)) : max(0, sum)
        }
      }
      stages.reconstruction = activation
    }
    return stages
  }

  /// Valid (unpadded) 2-D convolution of a [channels, side, side] image with OIHW weights.
  func convolution(
    _ x: [Double], channels: Int, side: Int, weight: [Double], bias: [Double], outputs: Int, kernel: Int,
    stride: Int
  ) -> [Double] {
    let out = (side - kernel) / stride + 1
    var y = [Double](repeating: 0, count: outputs * out * out)
    for o in 0..<outputs {
      for oh in 0..<out {
        for ow in 0..<out {
          var sum = bias[o]
          for ci in 0..<channels {
            for kh in 0..<kernel {
              for kw in 0..<kernel {
                sum +=
                  x[(ci * side + oh * stride + kh) * side + ow * stride + kw]
                  * weight[((o * channels + ci) * kernel + kh) * kernel + kw]
              }
            }
          }
          y[(o * out + oh) * out + ow] = sum
        }
      }
    }
    return y
  }

  /// squash over consecutive groups of `dimension`: (s2 / (1 + s2)) * (s / sqrt(s2 + eps)).
  func squash(_ s: [Double], dimension: Int, epsilon: Double) -> [Double] {
    var v = s
    for start in stride(from: 0, to: s.count, by: dimension) {
      let s2 = s[start..<(start + dimension)].reduce(0) { $0 + $1 * $1 }
      for k in start..<(start + dimension) { v[k] = (s2 / (1 + s2)) * (s[k] / (s2 + epsilon).squareRoot()) }
    }
    return v
  }
}
