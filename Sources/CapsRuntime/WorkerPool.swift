import Foundation

/// Work that a `WorkerPool` splits across its threads.
protocol ParallelJob: AnyObject {
  /// Runs part `index` of `count`; called once per thread, concurrently.
  func runShard(_ index: Int, of count: Int)
}

/// A fixed set of threads created once, then reused for every parallel step of the sessions that
/// use it: no allocation and no thread creation per run.
///
/// A session creates its own pool unless given one. Give several sessions one pool to bound the
/// threads of a process: `InferenceSession(network:maxBatch:pool:)`. The sessions may then run
/// on different threads at the same time; their parallel steps take the pool in turn (one job at a
/// time, each on all the pool's threads), so the threads never exceed `threadCount`.
/// The threads stop when the last reference to the pool goes away.
///
/// ```swift
/// let pool = WorkerPool(threadCount: 4)
/// let sessions = try (0..<2).map { _ in try InferenceSession(network: network, maxBatch: 64, pool: pool) }
/// ```
public final class WorkerPool: Sendable {
  /// Threads taking part in a run, including the caller's (1...`InferencePlan.maximumThreads`).
  public let threadCount: Int
  private let workers: Workers
  // One job at a time: held for a whole run by the session running it.
  private let turn = DispatchSemaphore(value: 1)

  /// Starts `threadCount - 1` threads (the caller of a run is the first thread).
  public init(threadCount: Int) {
    precondition(
      (1...InferencePlan.maximumThreads).contains(threadCount),
      "threadCount must be 1...\(InferencePlan.maximumThreads)")
    self.threadCount = threadCount
    workers = Workers(threadCount: threadCount)
  }

  deinit { workers.shutdown() }

  /// Runs `job` on every thread (the caller takes shard 0) and returns when all are done; waits
  /// first for a job another session is running on this pool.
  func run(_ job: any ParallelJob) {
    turn.wait()
    defer { turn.signal() }
    workers.run(job)
  }
}

/// The threads of a `WorkerPool`. The threads hold this object, not the pool, so that the pool's
/// `deinit` (its last reference gone) can stop them.
///
/// Synchronisation: `run` publishes the job, then wakes each worker through its own semaphore;
/// workers report completion through `finished`. The semaphores order the memory accesses.
private final class Workers: @unchecked Sendable {
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

  /// Stops the workers; no run may follow.
  func shutdown() {
    guard !stopping else { return }
    stopping = true
    for start in starts { start.signal() }
    for _ in starts { exited.wait() }
  }
}
