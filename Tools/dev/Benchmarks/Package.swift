// swift-tools-version: 6.1
// Benchmarks of the CapsKit runtime, kept in a nested package so that users of CapsKit never
// resolve ordo-one/benchmark. Run from this folder: `swift package benchmark` (see
// docs/PERFORMANCE.md). The malloc interposer counts every malloc in the measured region, which
// the committed thresholds hold at zero per iteration.
import PackageDescription

let package = Package(
  name: "CapsKitBenchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(name: "CapsKit", path: "../../.."),
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    .executableTarget(
      name: "Inference",
      dependencies: [
        .product(name: "CapsKit", package: "CapsKit"),
        .product(name: "Benchmark", package: "benchmark"),
      ],
      path: "Benchmarks/Inference",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    .executableTarget(
      name: "GEMM",
      dependencies: [
        .product(name: "CapsKit", package: "CapsKit"),
        .product(name: "Benchmark", package: "benchmark"),
      ],
      path: "Benchmarks/GEMM",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
  ],
  swiftLanguageModes: [.v6]
)
