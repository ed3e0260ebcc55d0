import CapsFiles
import CapsFormat
import CapsTestSupport
import Testing

/// Every malformed model in Fixtures/bad gives one clear line naming the file and the problem, with
/// a kind a caller can match: the file's, or for a model that fails validation, each problem's.
@Suite struct BadModelTests {
  /// What reading each file must report: the error's kind, for an invalid model the first
  /// problem's kind, and the tensor concerned (the first problem's, or the error's).
  static let expectations:
    [(file: String, kind: ErrorKind, problem: ModelValidationError.Problem.Kind?, tensor: String?)] = [
      ("not_hdf5.h5", .wrongFormat, nil, nil),
      ("empty.h5", .wrongFormat, nil, nil),
      ("truncated.h5", .truncated, nil, nil),
      ("missing_key.h5", .invalidModel, .missingTensor, "digit_capsules.weight"),
      ("wrong_shape.h5", .invalidModel, .wrongShape, "conv2.bias"),
      ("int_dtype.h5", .invalidModel, .wrongType, "conv1.bias"),
      // Refused by the reader at the first chunk with NaN, before validation: no problem list.
      ("nan_weights.h5", .invalidModel, nil, "conv1.weight"),
      ("inconsistent_layers.h5", .invalidModel, .wrongShape, "conv2.weight"),
    ]

  @Test(arguments: 0..<expectations.count)
  func badModelIsRejectedWithAKind(index: Int) throws {
    let (file, kind, problem, tensor) = Self.expectations[index]
    let path = Fixtures.path("bad/\(file)")
    let error = try #require(readFailure(path))
    #expect(error.kind == kind, "\(error)")
    #expect(error.path == path)
    #expect(error.description.hasPrefix(path + ": "), "\(error)")
    #expect(!error.description.contains("\n"))
    #expect(error.validationError?.problems.first?.kind == problem, "\(error)")
    #expect((error.validationError?.problems.first?.tensor ?? error.tensor) == tensor, "\(error)")
  }

  /// One golden line per family: an HDF5 structure error and a validation error.
  @Test func theMessagesNameTheFileAndTheProblem() throws {
    let truncated = Fixtures.path("bad/truncated.h5")
    #expect(
      readFailure(truncated)?.description
        == "\(truncated): cannot open as HDF5 (truncated file: it has 37478 bytes, the superblock says 74956)"
    )
    let inconsistent = Fixtures.path("bad/inconsistent_layers.h5")
    #expect(
      readFailure(inconsistent)?.description
        == "\(inconsistent): 'conv2.weight' has shape [128, 32, 9, 9], expected [128, 64, 9, 9] (conv1 has 64 output channels)"
    )
  }
}
