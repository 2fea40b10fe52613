import ProxyCore
import ProxyNet
import ServiceLifecycle
import Yams

/// How the host knows its modules: one entry per module type, made by `entry(_:)` from the
/// ProxyModule conformance. The list itself is in BuiltinModules.swift.
enum ModuleCatalog {
    struct Entry: Sendable {
        var name: String
        var enabledByDefault: Bool
        /// Decodes the module's section (strict) and returns how to build the module.
        var prepare: @Sendable (Node) throws -> @Sendable (ModuleContext) throws -> any Service
    }

    static func entry<M: ProxyModule>(_: M.Type) -> Entry {
        Entry(name: M.name, enabledByDefault: M.enabledByDefault) { node in
            let config = try YAMLDecoder().decode(M.Config.self, from: node)
            return { context in try M(config: config, context: context) }
        }
    }

    /// Names that appear more than once (a catalog mistake; the host refuses to start).
    static func duplicateNames(_ entries: [Entry] = entries) -> [String] {
        var seen = Set<String>()
        return entries.map(\.name).filter { !seen.insert($0).inserted }
    }
}

/// A module whose section was decoded and validated; built with its context at start.
struct PreparedModule: Sendable {
    var name: String
    var enabled: Bool
    /// Overrides the global `balancer` for this module's new streams.
    var balancer: String?
    var build: @Sendable (ModuleContext) throws -> any Service
}
