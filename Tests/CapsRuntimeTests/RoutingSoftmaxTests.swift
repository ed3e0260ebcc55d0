import CCapsKernels
import Foundation
import Testing

/// Dynamic routing on a case small enough to do by hand: 2 input capsules, 2 outputs, 1-D vectors,
/// u_hat = [[1, 2], [3, 0]] (u_hat[i][j]), 2 iterations, epsilon 0.
///
/// Iteration 1: all couplings 1/2, s = (2, 1), v = s2/(1+s2) * sign = (4/5, 1/2);
/// logits b[i][j] = v_j * u_hat[i][j] = [[0.8, 1.0], [2.4, 0]].
@Suite struct RoutingSoftmaxTests {
  let uHat: [Float] = [1, 2, 3, 0]

  /// 1-D squash without epsilon: s2 / (1 + s2) * s / |s|.
  func squash(_ s: Double) -> Double { s * s / (1 + s * s) * (s < 0 ? -1 : 1) }

  func route(softmaxOverInputs: Bool) -> (v: [Float], history: [Float]) {
    var logits = [Float](repeating: 0, count: 4)
    var couplings = [Float](repeating: 0, count: 4)
    var v = [Float](repeating: 0, count: 2)
    var history = [Float](repeating: 0, count: 8)
    caps_route(uHat, 2, 2, 1, 2, softmaxOverInputs ? 1 : 0, 0, &logits, &couplings, &v, &history)
    return (v, history)
  }

  @Test func softmaxOverOutputCapsules() {
    // Iteration 2: each input's row is normalised: row 0 over (0.8, 1.0), row 1 over (2.4, 0).
    let c00 = 1 / (1 + exp(0.2))
    let c01 = 1 - c00
    let c10 = exp(2.4) / (exp(2.4) + 1)
    let c11 = 1 - c10
    let (v, history) = route(softmaxOverInputs: false)
    let expectedHistory = [0.5, 0.5, 0.5, 0.5, c00, c01, c10, c11]
    for (actual, expected) in zip(history, expectedHistory) { #expect(abs(Double(actual) - expected) < 1e-6) }
    #expect(abs(Double(v[0]) - squash(c00 * 1 + c10 * 3)) < 1e-6)
    #expect(abs(Double(v[1]) - squash(c01 * 2 + c11 * 0)) < 1e-6)
    // Each input's couplings sum to 1.
    #expect(abs(history[4] + history[5] - 1) < 1e-6 && abs(history[6] + history[7] - 1) < 1e-6)
  }

  @Test func softmaxOverInputCapsules() {
    // Iteration 2: each output's column is normalised: column 0 over (0.8, 2.4), column 1 over (1.0, 0).
    let c00 = 1 / (1 + exp(1.6))
    let c10 = 1 - c00
    let c01 = exp(1.0) / (exp(1.0) + 1)
    let c11 = 1 - c01
    let (v, history) = route(softmaxOverInputs: true)
    let expectedHistory = [0.5, 0.5, 0.5, 0.5, c00, c01, c10, c11]
    for (actual, expected) in zip(history, expectedHistory) { #expect(abs(Double(actual) - expected) < 1e-6) }
    #expect(abs(Double(v[0]) - squash(c00 * 1 + c10 * 3)) < 1e-6)
    #expect(abs(Double(v[1]) - squash(c01 * 2 + c11 * 0)) < 1e-6)
    #expect(abs(v[0] - 0.876_500) < 1e-5)  // 2.664036² / (1 + 2.664036²), worked by hand
  }
}
