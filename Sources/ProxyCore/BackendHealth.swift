import Foundation
import Synchronization

/// One endpoint kind of one backend, as the health checks see it.
public struct HealthKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public var backend: Backend.ID
    public var kind: EndpointKind
    public init(_ backend: Backend.ID, _ kind: EndpointKind) {
        self.backend = backend
        self.kind = kind
    }
    public var description: String { "\(backend) \(kind.rawValue)" }
    enum CodingKeys: String, CodingKey { case backend = "b", kind = "k" }
}

/// What one proxy's health checks found, as it shares it with the others.
public struct HealthView: Codable, Sendable, Equatable {
    public var proxy: String
    public var up: [HealthKey]
    public var down: [HealthKey]
    public init(proxy: String, up: [HealthKey], down: [HealthKey]) {
        self.proxy = proxy
        self.up = up
        self.down = down
    }
    /// At most this many endpoints are shared per proxy.
    public static let maxEndpoints = 50_000
}

/// Health views shared between proxies: each proxy publishes its own with a ttl (a dead proxy's
/// view expires by itself) and reads the others'.
public protocol HealthViewStore: Sendable {
    func publishHealthView(_ view: HealthView, ttl: Duration) async throws
    /// Every live proxy's view, sorted by proxy id.
    func liveHealthViews() async throws -> [HealthView]
}

/// The endpoints' health for placement: this proxy's own checks (an endpoint is down after `fall`
/// failed checks in a row, up again after `rise` passed ones; a new endpoint starts up), joined
/// with the views other proxies share. An endpoint is down for placement when more than half of
/// the proxies that check it see it down: one proxy cut off from an origin cannot take it out of
/// placement for everyone, and an origin that is really down is seen down by all of them. With
/// no other proxy's view (one proxy, the memory registry, a registry that cannot be read) this
/// proxy's own checks decide.
public final class BackendHealth: Sendable {
    public struct Policy: Sendable, Equatable {
        public var fall: Int
        public var rise: Int
        public init(fall: Int = 2, rise: Int = 2) {
            self.fall = max(1, fall)
            self.rise = max(1, rise)
        }
    }

    /// An endpoint's state as this proxy's checks left it.
    public struct Local: Sendable, Equatable {
        public var up = true
        /// Checks in a row that disagree with `up` (failures while up, passes while down).
        public var streak = 0
        public var lastError: String?
        public var checks: UInt64 = 0
    }

    /// A change of an endpoint's own state, for the log.
    public enum Transition: Sendable, Equatable {
        case down(String)
        case up
    }

    fileprivate struct State {
        var local: [HealthKey: Local] = [:]
        /// Per endpoint: how many other proxies check it, and how many of them see it down.
        var others: [HealthKey: (voters: Int, down: Int)] = [:]
        var failures: [EndpointKind: UInt64] = [:]
        /// Per kind, the backends down for placement, kept as results and views change (so a
        /// new session reads one set instead of asking per candidate).
        var down: [EndpointKind: Set<Backend.ID>] = [:]

        mutating func update(_ key: HealthKey) {
            if BackendHealth.placementDown(self, key) {
                down[key.kind, default: []].insert(key.backend)
            } else {
                down[key.kind]?.remove(key.backend)
            }
        }

        mutating func updateAll() {
            down = [:]
            for key in Set(local.keys).union(others.keys) { update(key) }
        }
    }

    /// Checks in a row that change an endpoint's state; a reload replaces it (`setPolicy`).
    public var policy: Policy { policyBox.withLock { $0 } }
    private let policyBox: Mutex<Policy>
    private let state = Mutex(State())

    public init(policy: Policy = .init()) {
        policyBox = Mutex(policy)
    }

    /// A configuration reload: the next checks count against `policy`.
    public func setPolicy(_ policy: Policy) { policyBox.withLock { $0 = policy } }

    /// Takes in one check's result; returns the transition it caused, if any.
    @discardableResult
    public func record(_ key: HealthKey, ok: Bool, error: String? = nil) -> Transition? {
        let policy = self.policy
        return state.withLock { s in
            var e = s.local[key] ?? Local()
            e.checks += 1
            if !ok {
                s.failures[key.kind, default: 0] += 1
                e.lastError = error ?? "failed"
            }
            defer {
                s.local[key] = e
                s.update(key)
            }
            if ok == e.up {
                e.streak = 0
                if ok { e.lastError = nil }
                return nil
            }
            e.streak += 1
            if e.up, e.streak >= policy.fall {
                e.up = false
                e.streak = 0
                return .down(e.lastError ?? "failed")
            }
            if !e.up, e.streak >= policy.rise {
                e.up = true
                e.streak = 0
                e.lastError = nil
                return .up
            }
            return nil
        }
    }

    /// Whether new sessions needing `kind` must avoid `backend`.
    public func isDown(_ backend: Backend.ID, _ kind: EndpointKind) -> Bool {
        let key = HealthKey(backend, kind)
        return state.withLock { s in Self.placementDown(s, key) }
    }

    /// The backends whose `kind` endpoint is down for placement.
    public func downBackends(_ kind: EndpointKind) -> Set<Backend.ID> {
        state.withLock { $0.down[kind] ?? [] }
    }

    fileprivate static func placementDown(_ s: State, _ key: HealthKey) -> Bool {
        let mine = s.local[key]
        let others = s.others[key] ?? (0, 0)
        let voters = others.voters + (mine == nil ? 0 : 1)
        let down = others.down + (mine?.up == false ? 1 : 0)
        return voters > 0 && 2 * down > voters
    }

    /// Forgets endpoints of backends no longer alive (their checks stopped).
    public func retain(_ alive: Set<Backend.ID>) {
        state.withLock { s in
            s.local = s.local.filter { alive.contains($0.key.backend) }
            s.others = s.others.filter { alive.contains($0.key.backend) }
            s.updateAll()
        }
    }

    /// This proxy's view, to share.
    public func view(proxy: String) -> HealthView {
        state.withLock { s in
            let all = s.local.prefix(HealthView.maxEndpoints)
            return HealthView(
                proxy: proxy, up: all.filter { $0.value.up }.map(\.key).sorted { $0.description < $1.description },
                down: all.filter { !$0.value.up }.map(\.key).sorted { $0.description < $1.description })
        }
    }

    /// Replaces what the other proxies see (their views, this proxy's own left out).
    public func setOthers(_ views: [HealthView]) {
        var others: [HealthKey: (voters: Int, down: Int)] = [:]
        for view in views {
            for key in view.up { others[key, default: (0, 0)].voters += 1 }
            for key in view.down {
                others[key, default: (0, 0)].voters += 1
                others[key, default: (0, 0)].down += 1
            }
        }
        state.withLock { s in
            s.others = others
            s.updateAll()
        }
    }

    /// Every endpoint known, with this proxy's own state and the placement verdict.
    public func snapshot() -> [HealthKey: (local: Local?, down: Bool, voters: Int)] {
        state.withLock { s in
            var out: [HealthKey: (local: Local?, down: Bool, voters: Int)] = [:]
            for key in Set(s.local.keys).union(s.others.keys) {
                out[key] = (s.local[key], Self.placementDown(s, key), (s.others[key]?.voters ?? 0) + (s.local[key] == nil ? 0 : 1))
            }
            return out
        }
    }

    /// Failed checks so far, by endpoint kind (`/metrics`).
    public var failures: [EndpointKind: UInt64] { state.withLock { $0.failures } }
}
