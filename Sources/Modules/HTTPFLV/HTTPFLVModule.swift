import ProxyCore
import ProxyNet

/// The HTTP-FLV, HTTP-TS and HLS module: live HTTP playback through the proxy.
///
/// The protocol is not served by this build yet: enabling the module stops start-up with a
/// clear error (ModuleError.notImplemented), so a config that asks for it never half-starts.
public struct HTTPFLVModule: ProxyModule {
    public static let name = "http-flv"
    public static let enabledByDefault = false

    public let config: HTTPFLVConfig

    public init(config: HTTPFLVConfig, context: ModuleContext) throws {
        self.config = config
        throw ModuleError.notImplemented(module: Self.name)
    }

    public func run() async throws {
        throw ModuleError.notImplemented(module: Self.name)
    }
}
