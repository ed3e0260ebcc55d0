import Foundation

/// Work that a `WorkerPool` splits across its threads.
protocol ParallelJob: AnyObject {
  /// Runs part `index` of `count`; called once per thread, concurrently.
  func runShard(_ index: Int, of count: Int)
}

/// A fixed set of threads created once, then reused for every parallel step: no allocation and
/// no thread creation per run.
///
/// Synchronisation: `run` publishes the job, then wakes each worker through its own semaphore;
/// workers report completion through `finished`. The semaphores order the memory accesses.
final class WorkerPool: @unchecked Sendable {
  /// Threads taking part in a run, including the caller's.
  let threadCount: Int
  private let starts: [DispatchSemaphore]
  private let finished = DispatchSemaphore(value: 0)
  private let exited = DispatchSemaphore(value: 0)
  private var job: (any ParallelJob)?
  private var stopping = false

  init(threadCount: Int) {
    self.threadCount = max(1, threadCount)
    starts = (1..<self.threadCount).map { _ in DispatchSemaphore(value: 0) }
    for index in 1..<self.threadCount {
      let thread = Thread { [self] in self.workerLoop(index) }
      thread.name = "capskit-worker-\(index)"
      thread.start()
    }
  }

  private func workerLoop(_ index: Int) {
    while true {
      starts[index - 1].wait()
      if stopping { break }
      job?.runShard(index, of: threadCount)
      finished.signal()
    }
    exited.signal()
  }

  /// Runs `job` on every thread (the caller takes shard 0) and returns when all are done.
  func run(_ job: any ParallelJob) {
    guard threadCount > 1 else {
      job.runShard(0, of: 1)
      return
    }
    self.job = job
    for start in starts { start.signal() }
    job.runShard(0, of: threadCount)
    for _ in starts { finished.wait() }
    self.job = nil
  }

  /// Stops the workers; the pool cannot run afterwards.
  func shutdown() {
    guard !stopping else { return }
    stopping = true
    for start in starts { start.signal() }
    for _ in starts { exited.wait() }
  }
}
