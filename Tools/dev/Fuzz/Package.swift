// swift-tools-version: 6.0
// libFuzzer targets for the readers. Build and run with Tools/dev/fuzz.sh (needs -sanitize=fuzzer).
import PackageDescription

let package = Package(
  name: "CapsKitFuzz",
  dependencies: [.package(name: "CapsKit", path: "../../..")],
  targets: [
    .target(name: "FuzzDriver"),
    .executableTarget(
      name: "FuzzPNG", dependencies: ["FuzzDriver", .product(name: "CapsKit", package: "CapsKit")]),
    .executableTarget(
      name: "FuzzModel", dependencies: ["FuzzDriver", .product(name: "CapsKit", package: "CapsKit")]),
    .executableTarget(
      name: "FuzzPth", dependencies: ["FuzzDriver", .product(name: "CapsKit", package: "CapsKit")]),
  ],
  swiftLanguageModes: [.v6]
)
