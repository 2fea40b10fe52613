/// An optional capability of a module: a configured cap on its open sessions (`max_sessions`),
/// which the commands API reports next to the module's open sessions.
public protocol SessionLimitedModule {
    var maxSessions: Int { get }
}
