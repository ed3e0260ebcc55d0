import CapsFiles
import CapsRuntime
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The classification loop of one run: the decoder fills batches on its thread while this one runs
/// the session on the previous batch and writes its rows to the sink, one write per batch. With
/// reconstructions, a batch's rows wait until its pictures are written, which happens while the next
/// batch runs. Per-input state is nothing but counters.
final class Pipeline {
  let session: InferenceSession
  let formatter: ResultFormatter
  let pictures: Pictures
  let console: Console

  init(session: InferenceSession, formatter: ResultFormatter, pictures: Pictures, quiet: Bool) {
    self.session = session
    self.formatter = formatter
    self.pictures = pictures
    console = Console(progress: Progress(total: nil), rows: .standardOutput, quiet: quiet)
  }

  /// What a run did.
  struct Outcome {
    var tally: Tally
    var seconds: Double
    var skipped: SkipCounts
    var filter: InputFilter

    /// Throws "no files to classify" when there was no input at all (inputs of other shards or
    /// already in a resumed file count as inputs: that shard simply has nothing left to do).
    func requireInputs() throws(RunStop) {
      if tally.processed == 0 && filter.otherShards == 0 && filter.alreadyDone == 0 {
        throw RunStop("no files to classify")
      }
    }

    func summary(shard: Shard?, resumedFile: String?) -> String {
      var text = tally.summary(seconds: seconds, skipped: skipped)
      if let shard { text += "; shard \(shard): \(filter.otherShards) inputs in other shards" }
      if let resumedFile {
        text += "; \(filter.alreadyDone) already in \(FileName.display(resumedFile))"
      }
      return text
    }
  }

  /// Runs `decoder` to the end, writing rows to `sink` (after the format's header, with `writeHeader`).
  func run(
    _ decoder: BatchDecoder, sink: RowSink, progressTotal: Int?, writeHeader: Bool = true
  ) throws(RunStop) -> Outcome {
    console.use(rows: sink, progress: Progress(total: progressTotal))
    let start = DispatchTime.now()
    var tally = Tally()
    var text = ""
    func emit(_ rows: BatchRows) throws(RowWriteError) {
      let writeFailures = rows.pictures?.wait() ?? [:]
      text.removeAll(keepingCapacity: true)
      for row in rows.rows {
        let failure = row.failure ?? row.image.flatMap { writeFailures[$0] }
        if let failure {
          tally.failed += 1
          console.error("\(FileName.display(row.path)): \(failure)")
        }
        if row.scores != nil { tally.classified += 1 }
        tally.processed += 1
        formatter.append(path: row.path, scores: row.scores, failure: failure, to: &text)
      }
      try console.writeRows(text)
      console.showProgress(done: tally.processed, failed: tally.failed, since: start)
    }

    do {
      if writeHeader { try console.writeRows(formatter.header()) }
      decoder.start()
      var waiting: BatchRows?
      while let batch = decoder.next() {
        if batch.imageCount > 0 {
          batch.pixels.withUnsafeBufferPointer {
            session.run(batch: batch.imageCount, pixels: $0, reconstruct: pictures.needsReconstructions)
          }
        }
        let rows = BatchRows(
          rows: batch.entries.map { entry in
            switch entry.outcome {
            case .failed(let reason): BatchRows.Row(path: entry.path, failure: reason)
            case .image(let index):
              Self.row(path: entry.path, image: index, scores: Scores(session: session, image: index))
            }
          },
          pictures: pictures.submit(batch, session: session))
        decoder.recycle(batch)
        if let previous = waiting {
          try emit(previous)
          waiting = nil
        }
        if rows.pictures == nil { try emit(rows) } else { waiting = rows }
      }
      if let previous = waiting { try emit(previous) }
    } catch {
      throw RunStop(error.description)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    return Outcome(tally: tally, seconds: seconds, skipped: decoder.skipped, filter: decoder.filtered)
  }

  /// A classified image's row; lengths that are not finite (weights or a normalisation that overflow
  /// Float) make an error row, never a prediction.
  private static func row(path: String, image: Int, scores: Scores) -> BatchRows.Row {
    guard scores.lengths.allSatisfy(\.isFinite) else {
      return BatchRows.Row(
        path: path,
        failure:
          "the model produced non-finite capsule lengths (NaN or infinity: its weights or normalisation overflow Float)"
      )
    }
    return BatchRows.Row(path: path, image: image, scores: scores)
  }
}

/// Why a run stopped before its end, in one line (exit 1); a `-o` file is then not written.
struct RunStop: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// The results of one batch, waiting to be printed.
struct BatchRows {
  struct Row {
    var path: String
    /// The image's index in its batch, when decoded.
    var image: Int?
    var scores: Scores?
    /// Why the file could not be read or decoded.
    var failure: String?
  }

  var rows: [Row]
  /// The batch's reconstructions being written, with --reconstruct.
  var pictures: PictureJob?
}

/// Files seen, classified and failed so far (a file whose reconstruction could not be written is
/// both classified and failed).
struct Tally {
  var processed = 0
  var classified = 0
  var failed = 0

  func summary(seconds: Double, skipped: SkipCounts) -> String {
    var text =
      "\(classified) \(classified == 1 ? "file" : "files") classified, \(failed) failed in "
      + String(format: "%.2f s (%.1f images/s)", seconds, seconds > 0 ? Double(classified) / seconds : 0)
    if let note = skipped.description { text += "; skipped \(note)" }
    return text
  }
}

extension Scores {
  /// The result for image `image` of the session's last run.
  init(session: InferenceSession, image: Int) {
    self.init(
      prediction: session.prediction(at: image),
      lengths: (0..<session.network.configuration.outputCapsules).map {
        session.length(at: image, capsule: $0)
      })
  }
}

/// open(2) for reading (a manifest: a regular file, a FIFO or a device).
func openForReading(_ path: UnsafePointer<CChar>) -> Int32 {
  open(path, O_RDONLY | O_CLOEXEC)
}
