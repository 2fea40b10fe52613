/// What modules report to the host about streams, and the one question they ask it:
/// may this client publish? The host wires these to webhooks and event callbacks.
public protocol ProxyHooks: Sendable {
    /// Asked before a publish is relayed; a refusal closes the session with the protocol's error.
    func authorizePublish(_ event: StreamEvent) async -> HookDecision
    /// Asked before a player is relayed (`hooks.play_auth`; allows when none is set). Attributes
    /// and renames in the answer are not used for players.
    func authorizePlay(_ event: StreamEvent) async -> HookDecision
    /// Publish/play start and end; must not block the caller.
    func report(_ event: StreamEvent)
}

public struct StreamEvent: Sendable {
    public enum Kind: String, Sendable {
        case publishStart = "publish_start", publishEnd = "publish_end", playStart = "play_start", playEnd = "play_end"
    }
    public var kind: Kind
    public var request: StreamRequest
    /// The module that saw it: `rtmp`, `http-flv`, `srt`, `webrtc`.
    public var module: String
    /// The URL scheme of the module's clients (`rtmp`, `http`, `srt`, `webrtc`): a hook's tcUrl.
    public var scheme: String
    public var client: String
    public var backend: Backend.ID?
    /// The session's id, unique per session and the same in its start and end (the
    /// coordinator's `x-streaming-id`); empty when the event has no session.
    public var sessionID = ""
    /// What the publish hook attached to the session (the coordinator's `x-record`,
    /// `x-previews`, `x-resolutions`), passed on in its events.
    public var attributes: [String: String] = [:]

    public init(kind: Kind, request: StreamRequest, module: ModuleIdentity, client: String, backend: Backend.ID? = nil) {
        self.init(kind: kind, request: request, module: module.name, scheme: module.scheme, client: client, backend: backend)
    }

    /// `scheme` defaults to the module's name.
    public init(kind: Kind, request: StreamRequest, module: String, scheme: String? = nil, client: String, backend: Backend.ID? = nil) {
        self.kind = kind
        self.request = request
        self.module = module
        self.scheme = scheme ?? module
        self.client = client
        self.backend = backend
    }
}

public enum HookDecision: Sendable, Equatable {
    case allow
    /// Allowed, with attributes the session keeps (and its events carry).
    case allowWith(attributes: [String: String])
    /// Allowed under another stream key: the session is routed, published to the origin and
    /// reported under `key` (the coordinator's channel name, so players need no secret key).
    case allowAs(StreamKey, attributes: [String: String])
    case deny(String)

    /// The attributes an allow carries.
    public var attributes: [String: String] {
        switch self {
        case .allowWith(let attributes), .allowAs(_, let attributes): attributes
        case .allow, .deny: [:]
        }
    }

    /// The key an allow renames the stream to.
    public var renamed: StreamKey? {
        if case .allowAs(let key, _) = self { key } else { nil }
    }
}

extension ProxyHooks {
    /// Players pass unless the hooks ask someone.
    public func authorizePlay(_ event: StreamEvent) async -> HookDecision { .allow }
}

/// Hooks that allow everything and report nowhere: the default until the host configures hooks.
public struct NoHooks: ProxyHooks {
    public init() {}
    public func authorizePublish(_ event: StreamEvent) async -> HookDecision { .allow }
    public func report(_ event: StreamEvent) {}
}
