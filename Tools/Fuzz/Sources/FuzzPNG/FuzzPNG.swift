import CapsImage
import FuzzDriver

/// libFuzzer entry: decode arbitrary bytes as PNG, then preprocess like capsinfer does.
/// Any error is fine; a crash, hang or unbounded allocation is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let image = try? PNGCodec.decode(bytes, name: "fuzz.png") else { return 0 }
  for mode in DigitPreprocessing.allCases {
    _ = try? image.digitInput(name: "fuzz.png", mode: mode)
  }
  return 0
}

/// The executable's entry point (see `runFuzzer`).
@_cdecl("FuzzPNG_main")
public func fuzzPNGMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzPNG)
}
