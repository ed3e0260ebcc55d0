import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat

/// Other implementations' checkpoints (Fixtures/layouts, made by Tools/fixtures/make_layout_fixtures.py)
/// converted to the reference layout: every index mapping checked element by element against the
/// file's own tensors, metadata, detection, refusals and `--layout` overrides.
@Suite struct LayoutConversionTests {
  private func layout(_ file: String) -> String { Fixtures.path("layouts/\(file)") }

  private func bits(_ model: CapsModel) -> [String: [UInt32]] {
    Dictionary(
      uniqueKeysWithValues: model.orderedKeys.map { ($0, model.tensor($0).values.map(\.bitPattern)) })
  }

  @Test func gramAIIsConcatenatedAndPermuted() throws {
    let (model, provenance) = try ModelFile.read(at: layout("gram-ai.pth"))
    #expect(provenance.layout == .gramAI && provenance.layoutWasDetected && !provenance.hasMetadata)
    #expect(model.metadata.squashEpsilon == 0)
    #expect(model.metadata.normalization == .unit)
    #expect(model.metadata.softmaxAxis == .inputCapsules)
    let c = model.configuration
    #expect(c.primaryTypes == 4 && c.primaryDimension == 8 && c.inputCapsules == 144)

    let raw = try PthTensorSource(path: layout("gram-ai.pth"))
    let conv2 = model.tensor("conv2.weight")
    let bias = model.tensor("conv2.bias")
    let perCapsule = conv2.count / 8
    for d in 0..<8 {
      let weight = try raw.read("primary_capsules.capsules.\(d).weight", maxCount: 1 << 20)
      #expect(Array(conv2.values[(d * perCapsule)..<((d + 1) * perCapsule)]) == weight.values)
      let capsuleBias = try raw.read("primary_capsules.capsules.\(d).bias", maxCount: 100)
      #expect(Array(bias.values[(d * 4)..<((d + 1) * 4)]) == capsuleBias.values)
    }
    let route = try raw.read("digit_capsules.route_weights", maxCount: 1 << 20)  // [J, I, D, M]
    let w = model.tensor("digit_capsules.weight")  // [I, J, D, M]
    let (j, i, d, m) = (route.shape[0], route.shape[1], route.shape[2], route.shape[3])
    #expect(w.shape == [i, j, d, m])
    var mismatches = 0
    for ii in 0..<i {
      for jj in 0..<j {
        for k in 0..<(d * m)
        where w.values[(ii * j + jj) * d * m + k] != route.values[(jj * i + ii) * d * m + k] {
          mismatches += 1
        }
      }
    }
    #expect(mismatches == 0)
    #expect(model.tensor("conv1.weight").values == (try raw.read("conv1.weight", maxCount: 1 << 20)).values)
  }

  /// Both Keras file structures give the same model, and every index mapping holds.
  @Test func kerasIsTransposedReorderedAndReindexed() throws {
    let (model, provenance) = try ModelFile.read(at: layout("keras_weights.h5"))
    let (saved, savedProvenance) = try ModelFile.read(at: layout("keras_model.h5"))
    #expect(provenance.layout == .keras && savedProvenance.layout == .keras)
    #expect(bits(model) == bits(saved))
    #expect(model.metadata.softmaxAxis == .outputCapsules)
    #expect(model.metadata.squashEpsilon == 1e-7)
    #expect(model.metadata.normalization == .unit)
    #expect(provenance.storedTypes["digit_capsules.weight"] == .float(bits: 32))

    let file = try HDF5File.open(path: layout("keras_weights.h5"))
    func keras(_ path: String) throws -> Tensor {
      let (shape, values) = try file.read(path, as: Float.self, maxCount: 1 << 22)
      return Tensor(shape: shape, values: values)
    }
    let (types, dimension, grid) = (4, 8, 6)
    // conv kernels (kh, kw, in, out) -> OIHW; primary channel t*D + d -> d*T + t.
    let k1 = try keras("/conv1/conv1/kernel:0")
    let conv1 = model.tensor("conv1.weight")
    let k2 = try keras("/primarycap_conv2d/primarycap_conv2d/kernel:0")
    let conv2 = model.tensor("conv2.weight")
    let b2 = try keras("/primarycap_conv2d/primarycap_conv2d/bias:0")
    let (c1, c2) = (k1.shape[3], k2.shape[3])
    var mismatches = 0
    for y in 0..<9 {
      for x in 0..<9 {
        for o in 0..<c1 where conv1.values[(o * 9 + y) * 9 + x] != k1.values[(y * 9 + x) * c1 + o] {
          mismatches += 1
        }
        for t in 0..<types {
          for d in 0..<dimension {
            let reference = d * types + t
            let kerasChannel = t * dimension + d
            for input in 0..<c1
            where conv2.values[((reference * c1 + input) * 9 + y) * 9 + x]
              != k2.values[((y * 9 + x) * c1 + input) * c2 + kerasChannel]
            {
              mismatches += 1
            }
            if y == 0, x == 0, model.tensor("conv2.bias").values[reference] != b2.values[kerasChannel] {
              mismatches += 1
            }
          }
        }
      }
    }
    // W [J, I, M, D] with capsule (h*G + w)*T + t -> W[t*G*G + h*G + w, j, d, m].
    let kw = try keras("/digitcaps/digitcaps/W:0")
    let w = model.tensor("digit_capsules.weight")
    let (outputs, inputs, outDimension) = (kw.shape[0], kw.shape[1], kw.shape[2])
    for t in 0..<types {
      for cell in 0..<(grid * grid) {
        for j in 0..<outputs {
          for n in 0..<dimension {
            for m in 0..<outDimension
            where w.values[(((t * grid * grid + cell) * outputs + j) * dimension + n) * outDimension + m]
              != kw.values[((j * inputs + cell * types + t) * outDimension + m) * dimension + n]
            {
              mismatches += 1
            }
          }
        }
      }
    }
    // Dense kernels (in, out) -> Linear (out, in).
    let dense = try keras("/decoder/dense_1/kernel:0")
    let linear = model.tensor("decoder.0.weight")
    for input in 0..<dense.shape[0] {
      for output in 0..<dense.shape[1]
      where linear.values[output * dense.shape[0] + input] != dense.values[input * dense.shape[1] + output] {
        mismatches += 1
      }
    }
    #expect(mismatches == 0)
  }

  @Test(arguments: [
    (
      "jindongwang.pth", "jindongwang/Pytorch-CapsuleNet layout, which cannot be converted",
      "view(N, 1152, 8)"
    ),
    ("adambielski.pth", "adambielski/CapsNet-pytorch layout, which cannot be converted", "learned prior"),
  ])
  func unconvertibleLayoutsAreRefusedSayingWhy(file: String, what: String, why: String) {
    let error = #expect(throws: FormatError.self) { try ModelFile.read(at: layout(file)) }
    #expect(error?.kind == .unsupported && error?.path == layout(file), "\(String(describing: error))")
    let detail = error?.detail ?? ""
    #expect(detail.hasPrefix(what) && detail.contains(why), "\(detail)")
    #expect(detail.contains("shared across the batch") == (file == "jindongwang.pth"))
  }

  @Test func aKerasFileWithoutRoutingWeightsIsRefused() {
    let error = #expect(throws: FormatError.self) { try ModelFile.read(at: layout("keras_broken.h5")) }
    #expect(error?.kind == .invalidModel)
    #expect(error?.validationError?.problems.map(\.kind) == [.invalidConfiguration])
    // The golden line of the family.
    #expect(
      error?.description
        == "\(layout("keras_broken.h5")) (Keras layout): found 0 4-D non-kernel weights, expected 1 (the digit capsules' W)"
    )
  }

  @Test func theLayoutOptionOverridesDetection() throws {
    var options = ModelFile.ReadOptions()
    options.layout = .reference
    let reference = #expect(throws: FormatError.self) {
      try ModelFile.read(at: layout("gram-ai.pth"), options: options)
    }
    #expect(reference?.kind == .invalidModel)
    #expect(reference?.validationError?.problems.contains(.missingTensor("conv2.weight")) == true)
    options.layout = .keras
    let kerasFromPth = #expect(throws: FormatError.self) {
      try ModelFile.read(at: layout("gram-ai.pth"), options: options)
    }
    #expect(kerasFromPth?.kind == .unexpectedContent, "\(String(describing: kerasFromPth))")
    let notKeras = #expect(throws: FormatError.self) {
      try ModelFile.read(at: Fixtures.path("pth/tiny.h5"), options: options)
    }
    #expect(notKeras?.kind == .unexpectedContent, "\(String(describing: notKeras))")
    options.layout = .gramAI
    let (model, provenance) = try ModelFile.read(at: layout("gram-ai.pth"), options: options)
    #expect(!provenance.layoutWasDetected && model.metadata.squashEpsilon == 0)
    let notGramAI = #expect(throws: FormatError.self) {
      try ModelFile.read(at: Fixtures.path("pth/tiny.h5"), options: options)
    }
    #expect(notGramAI?.kind == .invalidModel)
    #expect(notGramAI?.validationError?.origin == "\(Fixtures.path("pth/tiny.h5")) (gram-ai layout)")
    #expect(
      notGramAI?.validationError?.problems.first == .missingTensor("primary_capsules.capsules.0.weight"))
  }

  @Test func detectionReadsTheKeys() {
    #expect(
      LayoutDetection.detect(keys: ["conv1.weight", "conv2.weight", "digit_capsules.weight"])
        == .layout(.reference))
    #expect(
      LayoutDetection.detect(keys: ["conv1.weight", "digit_capsules.route_weights"]) == .layout(.gramAI))
    #expect(LayoutDetection.detect(keys: ["primary_capsules.capsules.0.weight"]) == .layout(.gramAI))
    #expect(LayoutDetection.detect(keys: []) == .layout(.reference))
    guard
      case .refused(let name, _) = LayoutDetection.detect(keys: [
        "primary_capsules.capsules.0.weight", "digit_capsules.W",
      ])
    else {
      Issue.record("jindongwang not refused")
      return
    }
    #expect(name == "jindongwang/Pytorch-CapsuleNet")
  }

  @Test func permutationsMoveValuesExactly() {
    let tensor = Tensor(shape: [2, 3, 4], values: (0..<24).map(Float.init))
    let permuted = TensorLayoutOps.permute(tensor, axes: [2, 0, 1])
    #expect(permuted.shape == [4, 2, 3])
    for a in 0..<2 {
      for b in 0..<3 {
        for c in 0..<4 { #expect(permuted.values[(c * 2 + a) * 3 + b] == tensor.values[(a * 3 + b) * 4 + c]) }
      }
    }
    let rows = TensorLayoutOps.reorderRows(
      Tensor(shape: [3, 2], values: [0, 1, 2, 3, 4, 5]), source: { 2 - $0 })
    #expect(rows.values == [4, 5, 2, 3, 0, 1])
  }
}
