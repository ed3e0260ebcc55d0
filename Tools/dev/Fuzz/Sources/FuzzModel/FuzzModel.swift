import CapsFormat
import FuzzDriver

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

/// The executable's entry point (see `runFuzzer`).
@_cdecl("FuzzModel_main")
public func fuzzModelMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzModel)
}
