// swift-tools-version: 6.0
import PackageDescription

let package = Package(
  name: "CapsKit",
  platforms: [.macOS(.v13)],
  products: [
    .library(name: "CapsKit", targets: ["CapsFormat", "CapsImage", "CapsRuntime"]),
    .executable(name: "capsconv", targets: ["capsconv"]),
    .executable(name: "capsinfer", targets: ["capsinfer"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    // ONNX export (CapsExport): the message code is generated once into Sources/CapsExport/ONNX
    // (Tools/dev/generate_onnx_swift.sh), not by a build plugin.
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
  ],
  targets: [
    // C libraries, wrapped once at the edge: libhdf5 writes model files (CapsFormat's HDF5Writer;
    // reading HDF5 is CapsFormat's own Swift parser), zlib inflates its chunks, libpng decodes PNGs.
    .systemLibrary(
      name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
      providers: [.apt(["libhdf5-dev"]), .brew(["hdf5"])]),
    .systemLibrary(
      name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
    .systemLibrary(
      name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
      providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
    // Numeric kernels in C: GEMM micro-kernels (AVX-512 / AVX2 / portable, chosen at run time).
    .target(name: "CCapsKernels"),
    // SHA-256 of imported files, in C so that debug builds hash a 33 MB checkpoint quickly.
    .target(name: "CSHA256"),
    // File names as bytes, regular-file opening, atomic writes and interrupt cleanup (no C library).
    .target(name: "CapsFiles"),
    .target(name: "CapsFormat", dependencies: ["CapsFiles", "CHDF5", "CZlib", "CSHA256"]),
    // libpng reports errors by longjmp, which Swift cannot catch: this C target owns setjmp.
    .target(name: "CPNGSupport", dependencies: ["CPNG"]),
    .target(name: "CapsImage", dependencies: ["CapsFiles", "CPNGSupport"]),
    .target(name: "CapsRuntime", dependencies: ["CapsFormat", "CCapsKernels"]),
    // capsconv export: .pth (torch.save's ZIP), gram-ai and Keras layouts, ONNX.
    .target(
      name: "CapsExport",
      dependencies: [
        "CapsFiles", "CapsFormat", "CZlib", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]),
    .executableTarget(
      name: "capsconv",
      dependencies: [
        "CapsExport", "CapsFiles", "CapsFormat", "CapsRuntime",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .executableTarget(
      name: "capsinfer",
      dependencies: [
        "CapsFiles", "CapsFormat", "CapsImage", "CapsRuntime",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      // The built-in model. Resources is a git symlink to ../../Fixtures/models (SwiftPM copies a
      // symlinked *file* as a dangling link, but resolves a symlinked directory); the other fixture
      // models are not shipped.
      exclude: ["Resources/small.h5", "Resources/training.json"],
      resources: [.copy("Resources/standard.h5")]),
    .target(name: "CapsTestSupport", dependencies: ["CapsFiles", "CapsFormat"]),
    .testTarget(name: "CapsFormatTests", dependencies: ["CapsFiles", "CapsFormat", "CapsTestSupport"]),
    .testTarget(name: "CapsImageTests", dependencies: ["CapsImage", "CapsFormat", "CapsTestSupport"]),
    .testTarget(
      name: "CapsRuntimeTests",
      dependencies: ["CapsRuntime", "CapsFormat", "CapsTestSupport", "CCapsKernels"]),
    .testTarget(
      name: "CapsExportTests",
      dependencies: ["CapsExport", "CapsFormat", "CapsRuntime", "CapsTestSupport"]),
    // Depends on the executables so that `swift test` builds them before running them.
    .testTarget(name: "CLITests", dependencies: ["CapsTestSupport", "capsconv", "capsinfer"]),
  ],
  swiftLanguageModes: [.v6]
)
