import Foundation

/// The standard MNIST model that comes with the executable: installed as
/// `PREFIX/share/capskit/standard.h5` beside `PREFIX/bin/capsinfer` (Tools/user/install.sh), or,
/// when run from a build folder, the SwiftPM resource bundle beside the executable
/// (`Resources/standard.h5`).
enum BuiltinModel {
  struct Missing: Error {
    var message: String
  }

  /// The installed model's path relative to the executable's folder.
  static let installedRelativePath = "../share/capskit/standard.h5"

  /// The resource bundle's name beside the executable, as SwiftPM lays it out.
  #if os(Linux) || os(Windows) || os(Android)
    static let bundleName = "CapsKit_capsinfer.resources"
  #else
    static let bundleName = "CapsKit_capsinfer.bundle"
  #endif

  /// The path of the built-in model file.
  ///
  /// The executable's folder is that of the file itself (symlinks resolved: a link to an installed
  /// capsinfer finds the installed model). `Bundle.module` stops the process when its bundle is
  /// missing, so this first checks that the bundle exists and reports a missing one as an error.
  static func locate() -> Result<String, Missing> {
    let folder = Bundle.main.bundleURL.resolvingSymlinksInPath()
    let installed = folder.appendingPathComponent(installedRelativePath).standardizedFileURL.path
    if FileManager.default.fileExists(atPath: installed) { return .success(installed) }
    let bundle = folder.appendingPathComponent(bundleName).path
    guard FileManager.default.fileExists(atPath: bundle) else {
      return .failure(
        Missing(
          message:
            "built-in model not found: neither \(installed) (installed by Tools/user/install.sh) nor "
            + "\(bundle) (a build folder) exists; pass --model FILE"))
    }
    guard let path = Bundle.module.path(forResource: "standard", ofType: "h5") else {
      return .failure(Missing(message: "built-in model not found in \(bundle); pass --model FILE"))
    }
    return .success(path)
  }
}
