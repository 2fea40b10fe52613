import ProxyCore
import ProxyNet

/// The WebRTC module: WHIP/WHEP signalling and ICE/UDP media through the proxy.
///
/// The protocol is not served by this build yet: enabling the module stops start-up with a
/// clear error (ModuleError.notImplemented), so a config that asks for it never half-starts.
public struct WebRTCModule: ProxyModule {
    public static let name = "webrtc"
    public static let enabledByDefault = false

    public let config: WebRTCConfig

    public init(config: WebRTCConfig, context: ModuleContext) throws {
        self.config = config
        throw ModuleError.notImplemented(module: Self.name)
    }

    public func run() async throws {
        throw ModuleError.notImplemented(module: Self.name)
    }
}
