import Prometheus
import ProxyNet

/// `GET /metrics` through swift-prometheus: each scrape's samples (computed then, see
/// ProxyMetrics) go into a fresh PrometheusCollectorRegistry, which writes the text exposition
/// format 0.0.4. The library stops the process on a family that mixes kinds, help texts or
/// labelled and unlabelled samples, so those samples are left out here first (the first one of a
/// family decides), as are samples whose names are not valid Prometheus names: never a broken page.
enum PrometheusExposition {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func render(_ samples: [MetricSample], prefix: String = "") -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        var families: [String: (kind: MetricSample.Kind, help: String, labelled: Bool)] = [:]
        for sample in samples {
            let name = prefix + sample.name
            guard PrometheusNames.isMetricName(name), sample.labels.allSatisfy({ PrometheusNames.isLabelName($0.name) }) else { continue }
            let labelled = !sample.labels.isEmpty
            if let family = families[name] {
                guard family.kind == sample.kind, family.labelled == labelled else { continue }
            } else {
                families[name] = (sample.kind, sample.help, labelled)
            }
            let descriptor = MetricNameDescriptor(metricName: name, unitName: "", helpText: families[name]!.help)
            let labels = sample.labels.map { ($0.name, $0.value) }
            switch sample.kind {
            case .counter:
                let v = sample.value
                guard v.isFinite, v >= 0 else { continue }
                let counter = labelled ? registry.makeCounter(descriptor: descriptor, labels: labels) : registry.makeCounter(descriptor: descriptor)
                if v == v.rounded(), v < 9_007_199_254_740_992 { counter.increment(by: Int64(v)) } else { counter.increment(by: v) }
            case .gauge:
                let gauge = labelled ? registry.makeGauge(descriptor: descriptor, labels: labels) : registry.makeGauge(descriptor: descriptor)
                gauge.set(sample.value)
            }
        }
        return registry.emitToBuffer()
    }
}
