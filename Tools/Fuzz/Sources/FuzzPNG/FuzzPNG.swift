import CapsImage

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

/// SwiftPM links an executable with `--defsym main=FuzzPNG_main`; with `-parse-as-library` there is
/// no Swift main, so this one hands the command line to libFuzzer's driver.
@_cdecl("FuzzPNG_main")
public func fuzzPNGMain(
  _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
  var count = argc
  var arguments = argv
  return llvmFuzzerRunDriver(&count, &arguments, fuzzPNG)
}

@_silgen_name("LLVMFuzzerRunDriver")
func llvmFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>,
  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt
