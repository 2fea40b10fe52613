extension Router {
    /// A configuration reload: streams placed from now on use `strategy` (nil: the current one)
    /// and `configuration`; routes already claimed stay where they are. The proxy's id is kept.
    public nonisolated func reconfigure(strategy: (any BalancingStrategy)? = nil, configuration: RouterConfiguration) {
        settings.withLock { s in
            var c = configuration
            c.proxyID = s.configuration.proxyID
            s = (strategy ?? s.strategy, c)
        }
    }
}
