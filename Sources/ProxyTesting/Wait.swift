import Foundation

/// Polling for a condition with a deadline: the readiness check used instead of fixed sleeps.
public enum Wait {
    /// Calls `probe` every `interval` until it returns a value; throws after `timeout`.
    @discardableResult
    public static func until<T>(
        _ what: String, timeout: Duration = .seconds(10), interval: Duration = .milliseconds(50),
        _ probe: () async throws -> T?
    ) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let value = try await probe() { return value }
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out after \(timeout) waiting for \(what)") }
            try await Task.sleep(for: interval)
        }
    }
}
