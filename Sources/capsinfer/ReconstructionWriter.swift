import CapsFiles
import CapsImage
import CapsRuntime
import Foundation

/// Writes, for each classified file, a PNG with the model's input (left) beside the decoder's
/// reconstruction from the predicted capsule (right): `size` rows of `2 * size` pixels.
///
/// Names come from the input file name: `x.png` becomes `<directory>/x.recon.png`; a second input
/// with the same name in this run gets `x-2.recon.png`, and so on. An existing file is an error
/// (the row says so) unless `force` is set, and even then a file that is an input of this run
/// (``RunFiles``) is never replaced, nor anything but a regular file. Every file is written atomically (``ImageFile/writePNG(_:toPath:interlaced:)``, which
/// also flushes it to disk) on a background queue, so that the disk waits overlap inference.
final class ReconstructionWriter {
  let directory: String
  let size: Int
  /// Replace existing files (--force).
  let force: Bool
  private let runFiles: RunFiles
  private var used = Set<String>()
  private let queue = DispatchQueue(label: "capsinfer-reconstructions")

  /// The files of one batch being written; `wait` returns once they are.
  final class Job: @unchecked Sendable {
    fileprivate var pictures: [(image: Int, path: String, picture: GrayImage)] = []
    fileprivate var force = false
    // Written before the job is queued and by the queue before `done` is signalled; read after `wait`.
    fileprivate var failures: [Int: String] = [:]
    private let done = DispatchSemaphore(value: 0)

    fileprivate func writeAll() {
      for (image, path, picture) in pictures {
        do {
          try ImageFile.writePNG(picture, toPath: path, overwrite: force)
        } catch let error as ImageError {
          failures[image] = "reconstruction not written: \(error.description)"
        } catch {
          failures[image] = "reconstruction not written: \(path): \(error)"
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

  /// Why the output directory could not be made, in one line naming it.
  struct DirectoryError: Error, CustomStringConvertible {
    var description: String
  }

  /// Creates `directory` (and its parents) if needed.
  init(directory: String, size: Int, force: Bool, runFiles: RunFiles) throws(DirectoryError) {
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
    self.size = size
    self.force = force
    self.runFiles = runFiles
  }

  /// Composes the pictures of `batch`'s images from the session's last run (which asked for
  /// reconstructions) and starts writing them.
  func submit(_ batch: Batch, session: InferenceSession) -> Job {
    let job = Job()
    job.force = force
    let area = size * size
    session.withReconstructions { reconstructions in
      for entry in batch.entries {
        guard case .image(let image) = entry.outcome else { continue }
        let input = batch.image(image)
        var pixels = [Float](repeating: 0, count: 2 * area)
        for y in 0..<size {
          for x in 0..<size {
            pixels[y * 2 * size + x] = input[input.startIndex + y * size + x]
            pixels[y * 2 * size + size + x] = reconstructions[image * area + y * size + x] * 255
          }
        }
        do {
          let picture = try GrayImage(width: 2 * size, height: size, pixels: pixels)
          let path = uniquePath(for: entry.path)
          if let refusal = runFiles.reserveOutput(path) {
            job.failures[image] = "reconstruction not written: \(FileName.display(path)) \(refusal)"
          } else {
            job.pictures.append((image, path, picture))
          }
        } catch {
          job.failures[image] = "reconstruction not written: \(error)"
        }
      }
    }
    queue.async { job.writeAll() }
    return job
  }

  /// `<directory>/<stem>.recon.png`, with `-2`, `-3`, ... after the stem when a name repeats in this run.
  private func uniquePath(for path: String) -> String {
    let name = path.split(separator: "/").last.map(String.init) ?? "image"
    var stem = name
    if InputPaths.hasPNGExtension(name) { stem.removeLast(4) }
    var candidate = stem + ".recon.png"
    var counter = 2
    while !used.insert(candidate).inserted {
      candidate = "\(stem)-\(counter).recon.png"
      counter += 1
    }
    return directory.hasSuffix("/") ? directory + candidate : directory + "/" + candidate
  }
}
