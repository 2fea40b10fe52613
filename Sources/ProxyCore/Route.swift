import Foundation

/// A stream's claim on a backend. Claimed atomically, refreshed while sessions use it,
/// released after the linger time, and gone by itself when nobody refreshes it before `expiresAt`.
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
