import Foundation

/// Polling for a condition with a deadline: the readiness check used instead of fixed sleeps.
public enum Wait {
    /// Calls `probe` every `interval` until it returns a value; throws after `timeout`.
    ///
    /// The failure needs a probe that *started* after the deadline: on a loaded machine a test
    /// task can wait seconds for a thread, and a probe that began before the deadline may report
    /// a state older than the deadline (a request answered early, resumed late). Such a probe
    /// is followed by one more instead of a failure.
    @discardableResult
    public static func until<T>(
        _ what: String, timeout: Duration = .seconds(10), interval: Duration = .milliseconds(50),
        _ probe: () async throws -> T?
    ) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            let started = ContinuousClock.now
            if let value = try await probe() { return value }
            guard started < deadline else { throw TestFailure("timed out after \(timeout) waiting for \(what)") }
            if ContinuousClock.now < deadline { try await Task.sleep(for: interval) }
        }
    }
}
