import Foundation

/// The standard MNIST model shipped with the executable as a SwiftPM resource
/// (`Resources/standard.h5`, in the resource bundle beside the executable).
enum BuiltinModel {
  struct Missing: Error {
    var message: String
  }

  /// The resource bundle's name beside the executable, as SwiftPM lays it out.
  #if os(Linux) || os(Windows) || os(Android)
    static let bundleName = "CapsKit_capsinfer.resources"
  #else
    static let bundleName = "CapsKit_capsinfer.bundle"
  #endif

  /// The path of the built-in model file.
  ///
  /// `Bundle.module` stops the process when its bundle is missing, so this first checks that the
  /// bundle sits beside the executable and reports a missing one as an error instead.
  static func locate() -> Result<String, Missing> {
    let expected = Bundle.main.bundleURL.appendingPathComponent(bundleName).path
    guard FileManager.default.fileExists(atPath: expected) else {
      return .failure(
        Missing(
          message:
            "built-in model not found: \(expected) is missing (install it beside the executable) "
            + "or pass --model FILE"))
    }
    guard let path = Bundle.module.path(forResource: "standard", ofType: "h5") else {
      return .failure(Missing(message: "built-in model not found in \(expected); pass --model FILE"))
    }
    return .success(path)
  }
}
