import Foundation
import ProxyNet
import Testing

@testable import Host

/// /metrics through swift-prometheus: HELP and TYPE per family, labels escaped by the library,
/// integral counters without a fraction, and the samples the library would stop the process on
/// (mixed kinds, mixed labelled and unlabelled samples) or rename (invalid names) left out.
@Suite struct PrometheusExpositionTests {
    static func text(_ samples: [MetricSample], prefix: String = "") -> String {
        String(decoding: PrometheusExposition.render(samples, prefix: prefix), as: UTF8.self)
    }

    @Test func writesHelpTypeAndEverySampleOfAFamily() {
        let text = Self.text([
            MetricSample(name: "sessions", help: "Open sessions.", kind: .gauge, labels: [.init("module", "rtmp"), .init("role", "publish")], value: 1),
            MetricSample(name: "up", help: "Up.", kind: .gauge, value: 1),
            MetricSample(name: "sessions", help: "ignored: the family's first help wins", kind: .gauge, labels: [.init("module", "srt"), .init("role", "play")], value: 0),
            MetricSample(name: "bytes_total", help: "Bytes.", kind: .counter, value: 18_446_744_073_709),
        ], prefix: "stream_proxy_")
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.isSuperset(of: [
            "# HELP stream_proxy_sessions Open sessions.", "# TYPE stream_proxy_sessions gauge",
            #"stream_proxy_sessions{module="rtmp",role="publish"} 1.0"#, #"stream_proxy_sessions{module="srt",role="play"} 0.0"#,
            "# HELP stream_proxy_up Up.", "# TYPE stream_proxy_up gauge", "stream_proxy_up 1.0",
            "# TYPE stream_proxy_bytes_total counter", "stream_proxy_bytes_total 18446744073709",
        ]), "\(text)")
        #expect(!text.contains("ignored"))
    }

    @Test func escapesLabelValues() {
        let text = Self.text([MetricSample(name: "m", help: "h", kind: .counter, labels: [.init("k", "\"\n\\ é")], value: 2)])
        #expect(text.contains(#"m{k="\"\n\\ é"} 2"#), "\(text)")
    }

    @Test func leavesOutWhatTheLibraryWouldRefuse() {
        #expect(PrometheusNames.isMetricName("stream_proxy:x_1"))
        #expect(!PrometheusNames.isMetricName("1x") && !PrometheusNames.isMetricName("a-b") && !PrometheusNames.isMetricName(""))
        #expect(PrometheusNames.isLabelName("module") && !PrometheusNames.isLabelName("__name") && !PrometheusNames.isLabelName("a:b"))
        let text = Self.text([
            MetricSample(name: "bad-name", help: "", kind: .gauge, value: 1),
            MetricSample(name: "ok", help: "h", kind: .gauge, labels: [.init("bad label", "v")], value: 1),
            MetricSample(name: "ok", help: "h", kind: .gauge, value: 2),
            MetricSample(name: "ok", help: "h", kind: .counter, value: 3),
            MetricSample(name: "ok", help: "h", kind: .gauge, labels: [.init("k", "v")], value: 4),
            MetricSample(name: "neg", help: "h", kind: .counter, value: -1),
        ])
        #expect(text.contains("ok 2.0") && !text.contains("ok 3") && !text.contains("k=\"v\"") && !text.contains("bad"), "\(text)")
        #expect(!text.contains("neg "), "a negative counter is left out: \(text)")
    }
}
