import Foundation

/// An origin taken out of placement for maintenance: it gets no new streams while its sessions
/// continue; past `closeAt` (when a grace time was given) every proxy closes its sessions there
/// and its streams move on their next session. Kept by backend id, apart from the heartbeats,
/// so the origin's re-registration does not end it; only an undrain does.
public struct OriginDrain: Sendable, Equatable {
    /// When the drain was first set.
    public var since: Date
    /// When its sessions are closed; nil: never (they end by themselves).
    public var closeAt: Date?

    public init(since: Date, closeAt: Date? = nil) {
        self.since = since
        self.closeAt = closeAt
    }

    /// True once the grace time is over: sessions there are closed and its routes are moved.
    public func closing(at t: Date) -> Bool { closeAt.map { $0 <= t } ?? false }
}

/// Drain states shared by every proxy on the registry (both registries conform).
public protocol OriginDrains: Sendable {
    /// Marks `id` draining. A drain already set keeps its `since`; `grace` replaces its close
    /// time (nil: no close time). False when `OriginDrainLimits.maxDrains` are set already.
    func drain(_ id: Backend.ID, grace: Duration?) async throws -> OriginDrain?
    /// Ends the drain of `id`; false when it had none.
    func undrain(_ id: Backend.ID) async throws -> Bool
    /// Every drain set, with times on this process's clock.
    func drains() async throws -> [Backend.ID: OriginDrain]
}

public enum OriginDrainLimits {
    /// Drains kept at most (one per origin; an origin forgotten while drained keeps its entry
    /// until it is undrained).
    public static let maxDrains = 10_000
    /// The longest grace time accepted.
    public static let maxGrace: Duration = .seconds(7 * 24 * 3600)
}
