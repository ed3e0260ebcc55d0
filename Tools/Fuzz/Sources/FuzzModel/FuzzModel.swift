import CapsFormat

/// libFuzzer entry: read arbitrary bytes as an HDF5 model file held in memory, with a tensor limit
/// small enough that a lying header cannot make the fuzzer allocate much.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModel(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  var options = ModelFile.ReadOptions()
  options.maxTensorElements = 1 << 22
  _ = try? ModelFile.read(image: bytes, name: "fuzz.h5", options: options)
  return 0
}

/// SwiftPM links an executable with `--defsym main=FuzzModel_main`; with `-parse-as-library` there is
/// no Swift main, so this one hands the command line to libFuzzer's driver.
@_cdecl("FuzzModel_main")
public func fuzzModelMain(
  _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
  var count = argc
  var arguments = argv
  return llvmFuzzerRunDriver(&count, &arguments, fuzzModel)
}

@_silgen_name("LLVMFuzzerRunDriver")
func llvmFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>,
  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt
