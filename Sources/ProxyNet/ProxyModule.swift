import ProxyCore
import ServiceLifecycle

/// The contract every protocol module keeps (DESIGN.md section 4).
///
/// Lifecycle: the host decodes the module's own section of proxy.yaml into `Config` (strictly:
/// unknown keys are errors), calls `init` for every enabled module (in catalog order) before
/// anything binds, then runs them all together and tells them to shut down together. `run()` binds, reports each bound address through
/// `context.onListening`, serves, and on graceful shutdown stops accepting and lets live relays
/// drain; task cancellation (the host's force-quit) closes what is left.
public protocol ProxyModule: Service {
    associatedtype Config: Decodable & Sendable
    /// Who the module is: its name (the key under `modules:` in proxy.yaml, the logger suffix
    /// `proxy.<name>`, the hooks' `protocol`, its name in the commands API), its clients' URL
    /// scheme and the endpoint kinds its sessions dial. The host reads everything it needs to
    /// know about a module from here and keeps no table of module names.
    static var identity: ModuleIdentity { get }
    /// Whether the module runs when proxy.yaml does not say `enabled:`.
    static var enabledByDefault: Bool { get }
    /// Validates and stores; no I/O.
    init(config: Config, context: ModuleContext) throws
}

extension ProxyModule {
    /// `identity.name`.
    public static var name: String { identity.name }
}

/// Errors a module's `init` throws for configurations it cannot serve.
public enum ModuleError: Error, CustomStringConvertible {
    case invalidConfig(module: String, key: String, String)

    public var description: String {
        switch self {
        case .invalidConfig(let m, let key, let why): "modules.\(m).\(key): \(why)"
        }
    }
}
