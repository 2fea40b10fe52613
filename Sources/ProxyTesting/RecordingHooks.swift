import ProxyCore
import Synchronization

/// Hooks for module tests: records every publish question and every report, in order, and
/// answers the questions with `refuse` (deny with that reason) or allow.
public final class RecordingHooks: ProxyHooks {
    public enum Call: Equatable, Sendable {
        /// `authorizePublish` was asked about an event of this kind.
        case asked(StreamEvent.Kind)
        /// `report` was told of an event of this kind.
        case reported(StreamEvent.Kind)
    }

    private let recorded = Mutex<[(call: Call, event: StreamEvent)]>([])
    public let refuse: String?

    public init(refuse: String? = nil) { self.refuse = refuse }

    public func authorizePublish(_ event: StreamEvent) async -> HookDecision {
        recorded.withLock { $0.append((.asked(event.kind), event)) }
        return refuse.map { .deny($0) } ?? .allow
    }

    public func report(_ event: StreamEvent) { recorded.withLock { $0.append((.reported(event.kind), event)) } }

    /// Questions and reports in order.
    public var calls: [Call] { recorded.withLock { $0.map(\.call) } }
    /// The kinds of the events asked about or reported, in order.
    public var kinds: [StreamEvent.Kind] { recorded.withLock { $0.map(\.event.kind) } }
    /// The events asked about or reported, in order.
    public var events: [StreamEvent] { recorded.withLock { $0.map(\.event) } }
}
