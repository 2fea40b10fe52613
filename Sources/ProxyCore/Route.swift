import Foundation

/// A stream's claim on a backend. Claimed atomically, refreshed by every proxy with sessions on
/// it, and gone when nobody refreshed it before `expiresAt`: the last session's proxy sets that to
/// `route_linger` after the session ended. Only failover drops a route early.
public struct Route: Sendable, Hashable {
    public var key: StreamKey
    public var backendID: Backend.ID
    public var claimedAt: Date
    public var expiresAt: Date

    public init(key: StreamKey, backendID: Backend.ID, claimedAt: Date, expiresAt: Date) {
        self.key = key
        self.backendID = backendID
        self.claimedAt = claimedAt
        self.expiresAt = expiresAt
    }
}
