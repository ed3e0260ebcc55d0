import CapsFormat
import Foundation

/// Locates the repository's `Fixtures/` and shared MNIST data from the test sources.
public enum Fixtures {
  /// The repository root (the folder holding Package.swift).
  public static let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.pathComponents.count > 1 {
      url.deleteLastPathComponent()
      if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
        return url
      }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
  }()

  /// `Fixtures/<relative>` as a path.
  public static func path(_ relative: String) -> String {
    repositoryRoot.appendingPathComponent("Fixtures").appendingPathComponent(relative).path
  }

  /// Where `swift build` put the executables of this configuration (beside the test bundle).
  public static let productsDirectory: URL = {
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    var url = executable.deletingLastPathComponent()
    // swift-testing on Linux runs the .xctest binary itself; on macOS it sits inside a bundle.
    while url.pathExtension == "xctest" || url.lastPathComponent == "Contents"
      || url.lastPathComponent == "MacOS"
    {
      url.deleteLastPathComponent()
    }
    return url
  }()

  /// A fresh temporary folder, removed by the caller with `removeItem`.
  public static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "capskit-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }
}

/// Deterministic pseudo-random numbers for tests (SplitMix64).
public struct SeededGenerator: RandomNumberGenerator {
  private var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// `count` values uniform in `range`.
  public mutating func floats(_ count: Int, in range: ClosedRange<Float>) -> [Float] {
    (0..<count).map { _ in Float.random(in: range, using: &self) }
  }
}

/// Largest absolute difference between two equally long sequences (infinity if lengths differ or NaN).
public func maxAbsoluteDifference(_ a: [Float], _ b: [Double]) -> Double {
  guard a.count == b.count else { return .infinity }
  var worst = 0.0
  for (x, y) in zip(a, b) {
    let difference = abs(Double(x) - y)
    if difference.isNaN { return .infinity }
    worst = max(worst, difference)
  }
  return worst
}

/// A model of `configuration` whose every weight is `value` (the plan and the file layout depend on
/// the shapes only; 1e30 makes every length NaN), with the reference metadata.
public func uniformModel(_ configuration: CapsNetConfiguration, value: Float) throws -> CapsModel {
  var weights: [String: Tensor] = [:]
  for (key, shape) in configuration.expectedShapes {
    weights[key] = Tensor(shape: shape, values: [Float](repeating: value, count: shape.reduce(1, *)))
  }
  return try CapsModel(
    configuration: configuration, metadata: .reference(classCount: configuration.outputCapsules),
    weights: weights)
}
