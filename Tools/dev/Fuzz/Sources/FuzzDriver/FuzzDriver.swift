/// The libFuzzer entry every target uses: bytes in, 0 out.
public typealias FuzzInput = @convention(c) (UnsafePointer<UInt8>, Int) -> CInt

/// Hands the command line to libFuzzer's driver with `body` as the input callback.
///
/// SwiftPM links each executable with `--defsym main=<Target>_main`; built with `-parse-as-library`
/// there is no Swift main, so each target defines `<Target>_main` and calls this.
public func runFuzzer(
  _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ body: FuzzInput
) -> CInt {
  var count = argc
  var arguments = argv
  return llvmFuzzerRunDriver(&count, &arguments, body)
}

@_silgen_name("LLVMFuzzerRunDriver")
func llvmFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>,
  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: FuzzInput
) -> CInt
