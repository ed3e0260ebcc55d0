import CapsFiles
import CapsImage
import CapsRuntime
import CapsToolSupport
import Foundation

/// A directory that per-file pictures go to (`--reconstruct`, `--perturb`), and their names.
///
/// Names come from the input file name: `x.png` becomes `<directory>/x<suffix>`; a second input
/// with the same name in this run gets `x-2<suffix>`, and so on. An existing file is an error
/// (the row says so) unless `force` is set, and even then a file that is an input of this run
/// (``RunFiles``) is never replaced, nor anything but a regular file. Every file is written
/// atomically (``ImageFile/writePNG(_:toPath:interlaced:overwrite:)``, which also flushes it to
/// disk) on a background queue (``PictureJob``), so that the disk waits overlap inference.
final class PictureDirectory {
  let directory: String
  /// Appended to the input's stem, e.g. `.recon.png`.
  let suffix: String
  /// What the files are, for error rows (e.g. "reconstruction").
  let noun: String
  private let runFiles: RunFiles
  private var used = Set<String>()

  /// Why the output directory could not be made, in one line naming it.
  struct DirectoryError: Error, CustomStringConvertible {
    var description: String
  }

  /// Creates `directory` (and its parents) if needed.
  init(directory: String, suffix: String, noun: String, runFiles: RunFiles) throws(DirectoryError) {
    var prefix = directory.hasPrefix("/") ? "/" : ""
    for component in directory.split(separator: "/") {
      prefix += component
      if FileName.withCString(prefix, { mkdir($0, 0o777) }) != 0 && errno != EEXIST {
        throw DirectoryError(
          description:
            "\(FileName.display(directory)): cannot create directory \(FileName.display(prefix)) "
            + "(\(ReadableFile.errnoText(errno)))")
      }
      prefix += "/"
    }
    guard let info = AtomicReplacement.status(of: directory, followingLinks: true),
      (info.st_mode & S_IFMT) == S_IFDIR
    else {
      throw DirectoryError(description: "\(FileName.display(directory)): not a directory")
    }
    self.directory = directory
    self.suffix = suffix
    self.noun = noun
    self.runFiles = runFiles
  }

  /// Names the picture of the input at `inputPath` (image `image` of its batch) and adds it to `job`,
  /// or records in `job` why it cannot be written.
  func add(_ picture: GrayImage, forInput inputPath: String, image: Int, to job: PictureJob) {
    let path = uniquePath(for: inputPath)
    if let refusal = runFiles.reserveOutput(path) {
      job.fail(image, "\(noun) not written: \(FileName.display(path)) \(refusal)")
    } else {
      job.pictures.append((image, path, picture, noun))
    }
  }

  /// `<directory>/<stem><suffix>`, with `-2`, `-3`, ... after the stem when a name repeats in this run.
  private func uniquePath(for path: String) -> String {
    let name = path.split(separator: "/").last.map(String.init) ?? "image"
    var stem = name
    if InputPaths.hasPNGExtension(name) { stem.removeLast(4) }
    var candidate = stem + suffix
    var counter = 2
    while !used.insert(candidate).inserted {
      candidate = "\(stem)-\(counter)\(suffix)"
      counter += 1
    }
    return directory.hasSuffix("/") ? directory + candidate : directory + "/" + candidate
  }
}

/// The picture files of one batch being written on the background queue; `wait` returns once they are.
final class PictureJob: @unchecked Sendable {
  fileprivate var pictures: [(image: Int, path: String, picture: GrayImage, noun: String)] = []
  private let force: Bool
  // Written before the job is queued and by the queue before `done` is signalled; read after `wait`.
  private var failures: [Int: String] = [:]
  private let done = DispatchSemaphore(value: 0)
  private static let queue = DispatchQueue(label: "capsinfer-pictures")

  /// - Parameter force: Replace existing regular files (--force).
  init(force: Bool) { self.force = force }

  /// Records why a picture of image `image` was not written (joined to an earlier reason).
  func fail(_ image: Int, _ reason: String) {
    failures[image] = failures[image].map { $0 + "; " + reason } ?? reason
  }

  /// Starts writing the pictures on the background queue.
  func start() { Self.queue.async { self.writeAll() } }

  private func writeAll() {
    for (image, path, picture, noun) in pictures {
      do {
        try ImageFile.writePNG(picture, toPath: path, overwrite: force)
      } catch let error as ImageError {
        fail(image, "\(noun) not written: " + ForceHint.adding(to: error.description, kind: error.kind))
      } catch {
        fail(image, "\(noun) not written: \(path): \(error)")
      }
    }
    pictures = []
    done.signal()
  }

  /// Waits for the batch's files. - Returns: why a file was not written, by image index in the batch.
  func wait() -> [Int: String] {
    done.wait()
    return failures
  }
}

/// Writes, for each classified file, `<dir>/<name>.recon.png`: the model's input (left) beside the
/// decoder's reconstruction from the predicted capsule (right), `size` rows of `2 * size` pixels.
final class ReconstructionWriter {
  let size: Int
  private let files: PictureDirectory

  init(directory: String, size: Int, runFiles: RunFiles) throws(PictureDirectory.DirectoryError) {
    self.size = size
    files = try PictureDirectory(
      directory: directory, suffix: ".recon.png", noun: "reconstruction", runFiles: runFiles)
  }

  /// Composes the pictures of `batch`'s images from the session's last run (which asked for
  /// reconstructions) and adds them to `job`.
  func submit(_ batch: Batch, session: InferenceSession, to job: PictureJob) {
    let area = size * size
    session.withReconstructions { reconstructions in
      for entry in batch.entries {
        guard case .image(let image) = entry.outcome else { continue }
        var canvas = Canvas(width: 2 * size, height: size, background: 0)
        canvas.paste(batch.image(image), side: size, x: 0, y: 0, scale: 1)
        canvas.paste(
          reconstructions[(image * area)..<((image + 1) * area)], side: size, x: size, y: 0, scale: 255)
        do {
          let picture = try GrayImage(width: canvas.width, height: canvas.height, pixels: canvas.pixels)
          files.add(picture, forInput: entry.path, image: image, to: job)
        } catch {
          job.fail(image, "reconstruction not written: \(error)")
        }
      }
    }
  }
}
