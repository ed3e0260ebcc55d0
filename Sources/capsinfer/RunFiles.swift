import CapsFiles
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The inputs and the picture outputs (reconstructions, sheets) of one run, so that neither ever becomes the other:
/// a reconstruction is not written over a file that was (or is named on the command line as) an
/// input, and a file written as a reconstruction in this run is not read as an input.
///
/// Inputs register from the decoding thread as they are reached, outputs from the main thread when
/// they are reserved; the checks happen under one lock, so whichever comes second sees the other.
final class RunFiles: @unchecked Sendable {
  private let lock = NSLock()
  /// Canonical paths and file identities of the inputs so far.
  private var inputPaths = Set<String>()
  private var inputIdentities = Set<FileIdentity>()
  /// Canonical paths of the reconstructions reserved so far.
  private var outputPaths = Set<String>()

  /// Registers the files named on the command line before anything is written.
  init(namedInputs: [String]) {
    for path in namedInputs where path != "-" { _ = registerInput(path) }
  }

  /// Records an input; returns why it must not be read (it is a reconstruction of this run), or nil.
  func registerInput(_ path: String) -> String? {
    let canonical = FileName.canonical(path)
    lock.lock()
    defer { lock.unlock() }
    if outputPaths.contains(canonical) {
      return "is a picture written by this run (--reconstruct, --perturb, --contact-sheet); not classified"
    }
    inputPaths.insert(canonical)
    if let identity = FileIdentity(path) { inputIdentities.insert(identity) }
    return nil
  }

  /// Reserves an output path; returns why it must not be written (it is an input of this run), or nil.
  func reserveOutput(_ path: String) -> String? {
    let canonical = FileName.canonical(path)
    lock.lock()
    defer { lock.unlock() }
    if inputPaths.contains(canonical) || FileIdentity(path).map(inputIdentities.contains) == true {
      return "is an input of this run; not replaced"
    }
    outputPaths.insert(canonical)
    return nil
  }
}
