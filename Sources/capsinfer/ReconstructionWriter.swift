import CapsImage
import CapsRuntime
import Foundation

/// Writes, for each classified file, a PNG with the model's input (left) beside the decoder's
/// reconstruction from the predicted capsule (right): `size` rows of `2 * size` pixels.
///
/// Names come from the input file name: `x.png` becomes `<directory>/x.recon.png`; a second input
/// with the same name in this run gets `x-2.recon.png`, and so on. Files from earlier runs are
/// replaced. Every file is written atomically (``ImageFile/writePNG(_:toPath:interlaced:)``).
struct ReconstructionWriter {
  let directory: String
  let size: Int
  private var used = Set<String>()

  /// Creates `directory` (and its parents) if needed.
  init(directory: String, size: Int) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    self.directory = directory
    self.size = size
  }

  /// Writes the picture for image `image` of `batch`, whose run asked for reconstructions.
  /// - Returns: nil on success, else why the file could not be written (one line).
  mutating func write(for path: String, batch: Batch, image: Int, session: InferenceSession) -> String? {
    let area = size * size
    var pixels = [Float](repeating: 0, count: 2 * area)
    let input = batch.image(image)
    session.withReconstructions { reconstructions in
      for y in 0..<size {
        for x in 0..<size {
          pixels[y * 2 * size + x] = input[input.startIndex + y * size + x]
          pixels[y * 2 * size + size + x] = reconstructions[image * area + y * size + x] * 255
        }
      }
    }
    let destination = uniquePath(for: path)
    do {
      try ImageFile.writePNG(GrayImage(width: 2 * size, height: size, pixels: pixels), toPath: destination)
      return nil
    } catch let error as ImageError {
      return "reconstruction not written: \(error.description)"
    } catch {
      return "reconstruction not written: \(destination): \(error)"
    }
  }

  /// `<directory>/<stem>.recon.png`, with `-2`, `-3`, ... after the stem when a name repeats in this run.
  private mutating func uniquePath(for path: String) -> String {
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
