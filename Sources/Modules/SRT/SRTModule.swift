import ProxyCore
import ProxyNet

/// The SRT module: publish and play over SRT through the proxy.
///
/// The protocol is not served by this build yet: enabling the module stops start-up with a
/// clear error (ModuleError.notImplemented), so a config that asks for it never half-starts.
public struct SRTModule: ProxyModule {
    public static let name = "srt"
    public static let enabledByDefault = false

    public let config: SRTConfig

    public init(config: SRTConfig, context: ModuleContext) throws {
        self.config = config
        throw ModuleError.notImplemented(module: Self.name)
    }

    public func run() async throws {
        throw ModuleError.notImplemented(module: Self.name)
    }
}
