import ProxyCore
import ProxyNet

/// The RTMP module: publish and play over RTMP through the proxy.
///
/// The protocol is not served by this build yet: enabling the module stops start-up with a
/// clear error (ModuleError.notImplemented), so a config that asks for it never half-starts.
public struct RTMPModule: ProxyModule {
    public static let name = "rtmp"
    public static let enabledByDefault = false

    public let config: RTMPConfig

    public init(config: RTMPConfig, context: ModuleContext) throws {
        self.config = config
        throw ModuleError.notImplemented(module: Self.name)
    }

    public func run() async throws {
        throw ModuleError.notImplemented(module: Self.name)
    }
}
