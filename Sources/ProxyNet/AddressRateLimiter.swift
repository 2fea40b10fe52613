import NIOCore
import Synchronization

/// Per client address token buckets for requests that make state (an HLS play session, a route
/// for a stream that may not exist, a WebRTC session look-up, an SRT session set-up): each
/// address may start `rate` of them a second, in bursts of up to `burst`. The table of addresses
/// is bounded (`maxAddresses`): when a new address finds it full, the table starts over (every
/// address gets a full bucket again), so a flood of new addresses costs a bounded table and O(1)
/// work per request, never the memory of the process. One lock per decision, none on the data path.
public final class AddressRateLimiter: Sendable {
    public struct Limits: Sendable, Equatable {
        public var rate: Double
        public var burst: Double
        public var maxAddresses: Int

        public init(rate: Double, burst: Double, maxAddresses: Int = 65_536) {
            self.rate = rate
            self.burst = burst
            self.maxAddresses = maxAddresses
        }
    }

    private struct Bucket {
        var tokens: Double
        var updated: NIODeadline
    }

    public let limits: Limits
    private let buckets = Mutex<[String: Bucket]>([:])
    private let refusedCount = Atomic<UInt64>(0)

    public init(_ limits: Limits) {
        self.limits = limits
    }

    /// Takes one token for `address` (an IP address as text); false when it has none left.
    public func allow(_ address: String, now: NIODeadline = .now()) -> Bool {
        let allowed = buckets.withLock { buckets in
            var bucket = buckets[address] ?? Bucket(tokens: limits.burst, updated: now)
            let elapsed = Double((now - bucket.updated).nanoseconds) / 1e9
            bucket.tokens = min(limits.burst, bucket.tokens + max(0, elapsed) * limits.rate)
            bucket.updated = now
            guard bucket.tokens >= 1 else {
                buckets[address] = bucket
                return false
            }
            bucket.tokens -= 1
            if buckets[address] == nil, buckets.count >= limits.maxAddresses { buckets.removeAll(keepingCapacity: true) }
            buckets[address] = bucket
            return true
        }
        if !allowed { refusedCount.add(1, ordering: .relaxed) }
        return allowed
    }

    /// Requests refused so far.
    public var refused: UInt64 { refusedCount.load(ordering: .relaxed) }

    /// Addresses tracked now.
    public var count: Int { buckets.withLock { $0.count } }
}
