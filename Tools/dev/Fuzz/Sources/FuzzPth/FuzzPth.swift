import CapsFormat
import FuzzDriver

#if canImport(Glibc)
  import Glibc
#endif

/// The reader takes a path (positioned reads with `pread`), so each input is written to one file
/// on tmpfs (`/dev/shm`, else `/tmp`) per fuzzing process and read back with `ModelFile.read(at:)`.
private let inputPath: String = {
  let folder = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
  return "\(folder)/capskit-fuzzpth-\(getpid()).pth"
}()

/// libFuzzer entry: read arbitrary bytes as a torch.save checkpoint (ZIP archive or pre-1.6 pickle
/// stream). Inputs with neither magic would go to HDF5 (FuzzModel's job) and are skipped.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPth(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size >= 4 else { return 0 }
  let isZip =
    data[0] == 0x50 && data[1] == 0x4B && ((data[2] == 3 && data[3] == 4) || (data[2] == 5 && data[3] == 6))
  let isLegacy = data[0] == 0x80
  guard isZip || isLegacy else { return 0 }
  let descriptor = open(inputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  guard descriptor >= 0 else { fatalError("cannot create \(inputPath)") }
  var written = 0
  while written < size {
    let result = write(descriptor, data + written, size - written)
    guard result > 0 else { fatalError("cannot write \(inputPath)") }
    written += result
  }
  close(descriptor)
  var options = ModelFile.ReadOptions()
  options.maxTensorElements = 1 << 22
  _ = try? ModelFile.read(at: inputPath, options: options)
  return 0
}

/// The executable's entry point (see `runFuzzer`).
@_cdecl("FuzzPth_main")
public func fuzzPthMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzPth)
}
