import CapsFiles
import CapsTestSupport
import Foundation
import Testing

@testable import CapsFormat

/// The kinds of file-system failures and of errors that come from the layers below a reader.
@Suite struct ErrorKindTests {
  private struct Unrelated: Error {}

  /// An error none of the kinds describes keeps its identity (kind `other`, the error itself in
  /// `underlying`) instead of being relabelled as a file error; HDF5 and validation errors keep
  /// their kinds and context.
  @Test func mappingKeepsWhatItDoesNotKnow() throws {
    let unknown = #expect(throws: FormatError.self) {
      try FormatError.mapping(path: "m.h5") { () throws -> Int in throw Unrelated() }
    }
    #expect(unknown?.kind == .other)
    #expect(unknown?.underlying is Unrelated)
    #expect(unknown?.path == "m.h5")

    let hdf5 = HDF5Error(
      .unsupported, path: "m.h5", operation: "read 'w'", detail: "filter 6", dataset: "w", offset: 96)
    let mapped = #expect(throws: FormatError.self) {
      try FormatError.mapping(path: "m.h5") { () throws -> Int in throw hdf5 }
    }
    #expect(mapped?.kind == .unsupported && mapped?.tensor == "w" && mapped?.offset == 96)
    #expect(mapped?.hdf5Error?.operation == "read 'w'")
    #expect(mapped?.description == "m.h5: cannot read 'w' (filter 6)")

    let invalid = ModelValidationError(origin: "m.h5", problems: [.missingTensor("conv1.weight")])
    let validation = #expect(throws: FormatError.self) {
      try FormatError.mapping(path: "m.h5") { () throws -> Int in throw invalid }
    }
    #expect(validation?.kind == .invalidModel)
    #expect(validation?.validationError?.problems == [.missingTensor("conv1.weight")])
    #expect(validation?.description == "m.h5: missing tensor 'conv1.weight'")
  }

  @Test func openingFailuresHaveTheirKind() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let missing = folder.appendingPathComponent("missing.h5").path
    let notFound = #expect(throws: FormatError.self) { try RandomAccessFile(path: missing) }
    #expect(notFound?.kind == .notFound && notFound?.path == missing)
    #expect(notFound?.description == "\(missing): cannot open (No such file or directory)")
    let directory = #expect(throws: FormatError.self) { try RandomAccessFile(path: folder.path) }
    #expect(directory?.kind == .notRegularFile)
  }

  @Test func readsPastTheEndAreTruncatedWithTheirOffset() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("ten.bin").path
    try Data(repeating: 7, count: 10).write(to: URL(fileURLWithPath: path))
    let file = try RandomAccessFile(path: path)
    #expect(try file.bytes(at: 6, count: 4) == [7, 7, 7, 7])
    let error = #expect(throws: FormatError.self) { try file.bytes(at: 8, count: 4) }
    #expect(error?.kind == .truncated, "\(String(describing: error))")
    #expect(error?.detail == "needs bytes 8..<12 but the file has 10")
  }

  /// Writing: an existing output is `exists` (the tools add the --force hint), a missing folder
  /// `notFound`, a name that is no file `invalidPath`.
  @Test func writeRefusalsHaveTheirKind() throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("taken.h5").path
    try AtomicFile.write([1, 2, 3], to: path, overwrite: false)
    let exists = #expect(throws: FormatError.self) { try AtomicFile.write([4], to: path, overwrite: false) }
    #expect(exists?.kind == .exists && exists?.path == path)
    #expect(exists?.detail == AtomicReplacement.alreadyExists)
    let inMissing = folder.appendingPathComponent("no/such/folder/out.h5").path
    let notFound = #expect(throws: FormatError.self) {
      try AtomicFile.write([4], to: inMissing, overwrite: true)
    }
    #expect(notFound?.kind == .notFound)
    let dots = folder.path + "/.."
    let invalid = #expect(throws: FormatError.self) { try AtomicFile.write([4], to: dots, overwrite: true) }
    #expect(invalid?.kind == .invalidPath)
  }
}
