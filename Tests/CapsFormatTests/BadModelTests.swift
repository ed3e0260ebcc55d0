import CapsFormat
import CapsTestSupport
import Testing

/// Every malformed model in Fixtures/bad gives one clear line naming the file and the problem.
@Suite struct BadModelTests {
  static let expectations: [(file: String, message: String)] = [
    ("not_hdf5.h5", "cannot open as HDF5 (file signature not found"),
    ("empty.h5", "cannot open as HDF5 (file signature not found"),
    ("truncated.h5", "cannot open as HDF5 (truncated file"),
    ("missing_key.h5", "missing tensor 'digit_capsules.weight'"),
    ("wrong_shape.h5", "'conv2.bias' has shape [127], expected [128]"),
    ("int_dtype.h5", "'conv1.bias' is int32, expected a float tensor"),
    ("nan_weights.h5", "'conv1.weight' has 3 NaN and 1 infinite values"),
    (
      "inconsistent_layers.h5",
      "'conv2.weight' has shape [128, 32, 9, 9], expected [128, 64, 9, 9] (conv1 has 64 output channels)"
    ),
  ]

  @Test(arguments: 0..<expectations.count)
  func badModelIsRejectedWithAClearMessage(index: Int) {
    let (file, message) = Self.expectations[index]
    let path = Fixtures.path("bad/\(file)")
    do {
      _ = try ModelFile.read(at: path)
      Issue.record("\(file) was accepted")
    } catch {
      let text = error.description
      #expect(text.hasPrefix(path + ": "), "\(text)")
      #expect(text.contains(message), "\(text)")
      #expect(!text.contains("\n"))
    }
  }
}
