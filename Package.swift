// swift-tools-version: 6.0
import PackageDescription

let package = Package(
  name: "CapsKit",
  platforms: [.macOS(.v13)],
  products: [
    .library(
      name: "CapsKit",
      targets: ["CapsCore", "CapsFormat", "CapsHDF5Writer", "CapsImage", "CapsRuntime", "CapsVerify"]),
    .executable(name: "capsconv", targets: ["capsconv"]),
    .executable(name: "capsinfer", targets: ["capsinfer"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    // C libraries, wrapped once at the edge and imported `internal` only (not part of any API):
    // libhdf5 writes model files (CapsHDF5Writer; reading HDF5 is CapsFormat's own Swift parser),
    // zlib inflates its chunks, libpng decodes PNGs.
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
    // The model types: tensor, configuration, metadata, validated model (no dependency at all).
    .target(name: "CapsCore"),
    // The one I/O layer: file names as bytes, regular-file opening, positional reads, a byte
    // reader, atomic no-clobber writes, EINTR retried once (no C library, no signal handlers).
    .target(name: "CapsFiles"),
    // Reading model files: the Swift HDF5 parser, .pth archives, layouts (no libhdf5).
    .target(name: "CapsFormat", dependencies: ["CapsCore", "CapsFiles", "CZlib", "CSHA256"]),
    // Writing model files with libhdf5.
    .target(name: "CapsHDF5Writer", dependencies: ["CapsCore", "CapsFormat", "CapsFiles", "CHDF5"]),
    // libpng reports errors by longjmp, which Swift cannot catch: this C target owns setjmp.
    .target(name: "CPNGSupport", dependencies: ["CPNG"]),
    .target(name: "CapsImage", dependencies: ["CapsFiles", "CPNGSupport"]),
    // Inference: the model types and the kernels, nothing else (no file formats, no libhdf5).
    .target(name: "CapsRuntime", dependencies: ["CapsCore", "CCapsKernels"]),
    // Verification against reference activations (reads them with CapsFormat, runs CapsRuntime).
    .target(name: "CapsVerify", dependencies: ["CapsCore", "CapsFormat", "CapsRuntime"]),
    // What only the executables need: signal handlers that remove temporary files and exit.
    .target(name: "CapsToolSupport", dependencies: ["CapsFiles"]),
    .executableTarget(
      name: "capsconv",
      dependencies: [
        "CapsFiles", "CapsCore", "CapsFormat", "CapsHDF5Writer", "CapsRuntime", "CapsVerify",
        "CapsToolSupport",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .executableTarget(
      name: "capsinfer",
      dependencies: [
        "CapsFiles", "CapsCore", "CapsFormat", "CapsImage", "CapsRuntime", "CapsToolSupport",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      // The built-in model. Resources is a git symlink to ../../Fixtures/models (SwiftPM copies a
      // symlinked *file* as a dangling link, but resolves a symlinked directory); the other fixture
      // models are not shipped.
      exclude: ["Resources/small.h5", "Resources/training.json"],
      resources: [.copy("Resources/standard.h5")]),
    .target(name: "CapsTestSupport", dependencies: ["CapsCore", "CapsFiles", "CapsFormat"]),
    .testTarget(
      name: "CapsFormatTests",
      dependencies: ["CapsCore", "CapsFiles", "CapsFormat", "CapsHDF5Writer", "CapsTestSupport"]),
    .testTarget(name: "CapsImageTests", dependencies: ["CapsImage", "CapsFormat", "CapsTestSupport"]),
    .testTarget(
      name: "CapsRuntimeTests",
      dependencies: [
        "CapsCore", "CapsRuntime", "CapsFormat", "CapsHDF5Writer", "CapsVerify", "CapsTestSupport",
        "CCapsKernels",
      ]),
    // Depends on the executables so that `swift test` builds them before running them.
    .testTarget(
      name: "CLITests",
      dependencies: [
        "CapsCore", "CapsFormat", "CapsHDF5Writer", "CapsImage", "CapsTestSupport", "capsconv", "capsinfer",
      ]),
  ],
  swiftLanguageModes: [.v6]
)
