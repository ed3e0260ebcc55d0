import CapsImage
import Foundation

/// Reads and preprocesses PNG files on a background thread, a batch at a time, while the caller runs
/// inference on the previous batch.
///
/// A fixed set of batches circulates between the two threads (decoder fills one, caller consumes
/// another, hands it back with `recycle`), so memory stays bounded however many files come in.
final class BatchDecoder: @unchecked Sendable {
  /// How each file becomes a model input.
  struct Settings {
    var preprocessing: DigitPreprocessing
    var polarity: Polarity
    var alpha: AlphaHandling
    /// Side of the square model input.
    var size: Int
  }

  /// Batches in flight: one being decoded, one being classified, one being printed.
  static let batchCount = 3

  private let settings: Settings
  private let batchSize: Int
  private let empty = HandOff<Batch>()
  private let filled = HandOff<Batch>()
  // Owned by the decoding thread until `filled` is closed; read by the caller only after that.
  private var inputs: InputPaths
  private var filter: InputFilter
  private var started = false

  init(inputs: InputPaths, filter: InputFilter, settings: Settings, batchSize: Int) {
    self.inputs = inputs
    self.filter = filter
    self.settings = settings
    self.batchSize = batchSize
    for _ in 0..<Self.batchCount {
      empty.put(Batch(capacity: batchSize, imageSize: settings.size * settings.size))
    }
  }

  /// Starts the decoding thread.
  func start() {
    precondition(!started, "BatchDecoder.start called twice")
    started = true
    let thread = Thread { [self] in decodeAll() }
    thread.name = "capsinfer-decoder"
    thread.start()
  }

  /// The next batch in input order, or nil when every input has been decoded.
  func next() -> Batch? { filled.take() }

  /// Returns a batch obtained from `next` for reuse.
  func recycle(_ batch: Batch) { empty.put(batch) }

  /// What directory listings left out; valid once `next` has returned nil.
  var skipped: SkipCounts { inputs.skipped }

  /// What the filter dropped (other shards, rows already written); valid once `next` has returned nil.
  var filtered: InputFilter { filter }

  private func decodeAll() {
    while let batch = empty.take() {
      batch.clear()
      while batch.entries.count < batchSize, let next = inputs.next() {
        guard let item = filter.admit(next) else { continue }
        switch item {
        case .file(let path): decode(path, into: batch)
        case .failed(let path, let reason): batch.entries.append(.init(path: path, outcome: .failed(reason)))
        }
      }
      if batch.entries.isEmpty { break }
      filled.put(batch)
    }
    filled.close()
  }

  private func decode(_ path: String, into batch: Batch) {
    do {
      let image = try ImageFile.readDigit(
        atPath: path, mode: settings.preprocessing, polarity: settings.polarity, alpha: settings.alpha,
        size: settings.size)
      let index = batch.imageCount
      let size = batch.imageSize
      guard image.pixels.count == size else {
        batch.entries.append(
          .init(path: path, outcome: .failed("preprocessing produced a wrongly sized image")))
        return
      }
      batch.pixels[index * size..<(index + 1) * size] = image.pixels[...]
      batch.imageCount += 1
      batch.entries.append(.init(path: path, outcome: .image(index)))
    } catch let error as ImageError {
      batch.entries.append(.init(path: path, outcome: .failed(oneLine(error.detail))))
    } catch {
      batch.entries.append(.init(path: path, outcome: .failed(oneLine("\(error)"))))
    }
  }

  private func oneLine(_ text: String) -> String {
    String(text.map { $0.isNewline ? " " : $0 })
  }
}

/// Up to `batchSize` inputs in order, with the decoded images packed at the front of `pixels`.
final class Batch: @unchecked Sendable {
  struct Entry {
    var path: String
    var outcome: Outcome
  }

  enum Outcome {
    /// Decoded: the image's index among this batch's images.
    case image(Int)
    /// Not decoded: why, in one line.
    case failed(String)
  }

  let imageSize: Int
  var entries: [Entry] = []
  /// `imageCount` images of `imageSize` pixels (0...255), then unused space.
  var pixels: [Float]
  var imageCount = 0

  init(capacity: Int, imageSize: Int) {
    self.imageSize = imageSize
    entries.reserveCapacity(capacity)
    pixels = [Float](repeating: 0, count: capacity * imageSize)
  }

  func clear() {
    entries.removeAll(keepingCapacity: true)
    imageCount = 0
  }

  /// The pixels of image `index`.
  func image(_ index: Int) -> ArraySlice<Float> { pixels[index * imageSize..<(index + 1) * imageSize] }
}

/// A first-in first-out hand-off between threads; `take` waits for an element or for `close`.
final class HandOff<Element>: @unchecked Sendable {
  private let condition = NSCondition()
  private var elements: [Element] = []
  private var closed = false

  func put(_ element: Element) {
    condition.lock()
    elements.append(element)
    condition.signal()
    condition.unlock()
  }

  /// The oldest element, or nil once closed and empty.
  func take() -> Element? {
    condition.lock()
    defer { condition.unlock() }
    while elements.isEmpty && !closed { condition.wait() }
    return elements.isEmpty ? nil : elements.removeFirst()
  }

  func close() {
    condition.lock()
    closed = true
    condition.broadcast()
    condition.unlock()
  }
}
