// swift-tools-version: 6.0
// The README's library example as a package of its own: reads a PNG digit with CapsImage and
// classifies it with CapsRuntime. Built and run in CI by Tools/dev/check_example.sh.
import PackageDescription

let package = Package(
  name: "CapsKitExample",
  platforms: [.macOS(.v13)],
  dependencies: [
    // In your own package: the CapsKit repository by URL, or its checkout by path, as here.
    .package(name: "CapsKit", path: "..")
  ],
  targets: [
    .executableTarget(
      name: "classify-digit",
      dependencies: [.product(name: "CapsKit", package: "CapsKit")])
  ],
  swiftLanguageModes: [.v6]
)
