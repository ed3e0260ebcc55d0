import CapsImage
import FuzzDriver

#if canImport(Glibc)
  import Glibc
#endif

/// The same bytes as a file: an unlinked temporary file, rewritten for each input and read back
/// through `/proc/self/fd/N`, so that `ImageFile.readPNG`'s streamed path (64 KiB reads, row-by-row
/// conversion) is compared with the in-memory decoder on every input.
nonisolated(unsafe) private var memoryFile: Int32 = -1

private func streamed(_ bytes: [UInt8]) -> Result<GrayImage, ImageError>? {
  if memoryFile < 0 {
    var template = Array("/tmp/fuzzpng-XXXXXX".utf8CString)
    memoryFile = mkstemp(&template)
    if memoryFile >= 0 { unlink(template) }
  }
  guard memoryFile >= 0, ftruncate(memoryFile, 0) == 0 else { return nil }
  let written = bytes.withUnsafeBytes { pwrite(memoryFile, $0.baseAddress, $0.count, 0) }
  guard written == bytes.count else { return nil }
  do {
    return .success(try ImageFile.readPNG(atPath: "/proc/self/fd/\(memoryFile)"))
  } catch let error as ImageError {
    return .failure(error)
  } catch {
    return nil
  }
}

/// libFuzzer entry: decode arbitrary bytes as PNG, then preprocess like capsinfer does.
/// Any error is fine; a crash, hang or unbounded allocation is a finding, and so is a file read
/// (streamed) that disagrees with the bytes decoded in memory.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  let decoded: Result<GrayImage, ImageError>
  do {
    decoded = .success(try PNGCodec.decode(bytes, name: "fuzz.png"))
  } catch let error as ImageError {
    decoded = .failure(error)
  } catch {
    fatalError("PNGCodec.decode threw a non-ImageError: \(error)")
  }
  switch (decoded, streamed(bytes)) {
  case (.success(let a), .success(let b)?):
    if a != b { fatalError("streamed file and in-memory decoding differ") }
  case (.failure(let a), .failure(let b)?):
    if a.kind != b.kind { fatalError("streamed file failed with \(b.kind), in memory with \(a.kind)") }
  case (_, nil): break
  default: fatalError("streamed file and in-memory decoding disagree on success")
  }
  guard case .success(let image) = decoded else { return 0 }
  for mode in DigitPreprocessing.allCases {
    _ = try? image.digitInput(name: "fuzz.png", mode: mode)
  }
  // capsinfer's own path: every channel and alpha, background removal, specks, "no digit".
  guard let samples = try? PNGCodec.decodeSamples(bytes, name: "fuzz.png") else {
    fatalError("decode succeeded but decodeSamples failed")
  }
  for alpha in AlphaHandling.allCases {
    for polarity in Polarity.allCases {
      if let input = try? samples.digitInput(name: "fuzz.png", polarity: polarity, alpha: alpha) {
        if input.width != 28 || input.height != 28
          || input.pixels.contains(where: { !(0...255).contains($0) })
        {
          fatalError("digit input out of shape or range")
        }
      }
    }
  }
  return 0
}

/// The executable's entry point (see `runFuzzer`).
@_cdecl("FuzzPNG_main")
public func fuzzPNGMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzPNG)
}
