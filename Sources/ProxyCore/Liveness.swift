import Foundation

/// When a backend counts as dead: once it missed `misses` of the heartbeats its own cadence
/// promised (the gap between its last two heartbeats), half an interval of jitter allowed, and in
/// any case `backendAlive` after its last heartbeat (the ceiling, and the rule until a second
/// heartbeat shows the cadence). An SRS origin with `interval 9` is dead 31.5 s after its last
/// heartbeat; one that heartbeats every 2 s, 7 s after.
public struct Liveness: Sendable, Hashable {
    public var backendAlive: Duration
    /// Missed heartbeats that make a backend dead; 0 leaves only `backendAlive`.
    public var misses: Int

    /// Gaps shorter than this are no cadence (a register retried at once, a script registering
    /// twice): the cadence known before stays, and no origin becomes mortal within milliseconds.
    public static let shortestInterval: TimeInterval = 1

    /// The cadence after a heartbeat that came `gap` after the one before (nil: the first).
    public static func cadence(gap: TimeInterval?, previous: TimeInterval?) -> TimeInterval? {
        guard let gap, gap >= shortestInterval else { return previous }
        return gap
    }

    public init(backendAlive: Duration = .seconds(300), misses: Int = 3) {
        self.backendAlive = backendAlive
        self.misses = misses
    }

    /// How long after its last heartbeat a backend with this cadence stays alive.
    public func lifetime(interval: TimeInterval?) -> TimeInterval {
        let ceiling = backendAlive.timeInterval
        guard misses > 0, let interval, interval > 0 else { return ceiling }
        return min(ceiling, (Double(misses) + 0.5) * max(interval, Self.shortestInterval))
    }

    public func isAlive(age: TimeInterval, interval: TimeInterval?) -> Bool {
        age <= lifetime(interval: interval)
    }
}
