import Synchronization

/// Awaited work that an event loop starts and does not wait for: a registry record written or
/// deleted, a record looked up whose answer hops back to the loop, a backend resource DELETEd.
/// `submit` is synchronous; the jobs run as child tasks of `run()`, which the host runs beside
/// the module (ModuleGroup) and which ends once the module ended and its last jobs finished, so
/// no job outlives the process's shutdown and none needs a task of its own.
///
/// Bounded: at most `capacity` jobs wait to start; past that a job is refused (`submit` returns
/// false) and counted in `refused`, and the caller's state must not depend on it having run.
public final class BackgroundWork: Sendable {
    public typealias Job = @Sendable () async -> Void

    public let capacity: Int
    private let jobs: AsyncStream<Job>
    private let input: AsyncStream<Job>.Continuation
    private let refusedJobs = Atomic<Int>(0)

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
        (jobs, input) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .bufferingOldest(capacity))
    }

    /// Queues `job`; false when the queue is full or finished (the job will not run).
    @discardableResult
    public func submit(_ job: @escaping Job) -> Bool {
        if case .enqueued = input.yield(job) { return true }
        refusedJobs.add(1, ordering: .relaxed)
        return false
    }

    /// Jobs refused so far.
    public var refused: Int { refusedJobs.load(ordering: .relaxed) }

    /// Runs every job submitted, each as a child task, until `finish()` was called and the jobs
    /// queued before it ran. Cancellation (a forced stop) ends it: jobs still queued are dropped.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask { await job() }
            }
        }
    }

    /// No more jobs: `run()` returns once the queued ones finished.
    public func finish() {
        input.finish()
    }
}
