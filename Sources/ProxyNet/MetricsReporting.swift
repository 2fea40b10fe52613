import Synchronization

/// One value a module reports for `GET /metrics` (the system API writes it in Prometheus text,
/// prefixing `stream_proxy_`). Values are read at scrape time from state the module keeps anyway.
public struct MetricSample: Sendable {
    public enum Kind: String, Sendable {
        case counter, gauge
    }
    public struct Label: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }
    /// Without the `stream_proxy_` prefix: `srt_dropped_datagrams_total`.
    public var name: String
    public var help: String
    public var kind: Kind
    public var labels: [Label]
    public var value: Double

    public init(name: String, help: String, kind: Kind, labels: [Label] = [], value: Double) {
        self.name = name
        self.help = help
        self.kind = kind
        self.labels = labels
        self.value = value
    }
}

/// A module with values of its own for `GET /metrics` (drop counters and the like). The host asks
/// every running module that conforms, at each scrape; nothing is pushed or counted for it.
public protocol MetricsReporting: Sendable {
    func metricSamples() async -> [MetricSample]
}

/// Where a module's `run()` leaves the scrape-time reader of state it creates there (a handler
/// confined to an event loop): empty until then, and after the module stopped, the last reader.
public final class MetricsSlot: Sendable {
    public typealias Reader = @Sendable () async -> [MetricSample]
    private let reader = Mutex<Reader?>(nil)

    public init() {}

    public func set(_ read: @escaping Reader) { reader.withLock { $0 = read } }

    public func read() async -> [MetricSample] {
        guard let read = reader.withLock({ $0 }) else { return [] }
        return await read()
    }
}
