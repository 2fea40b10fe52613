import Foundation

/// Runs a blocking call (poll, connect, recv) on a thread of its own and awaits its result, so
/// that a test waiting on a socket does not hold one of the few Swift concurrency threads every
/// parallel test shares.
enum OffThread {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: body()) }
        }
    }
}
