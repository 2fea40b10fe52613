import ProxyNet
import Testing

@testable import Host

@Suite struct PrometheusTextTests {
    @Test func writesHelpTypeAndSamplesPerFamilyInOrder() {
        let text = PrometheusText.render([
            MetricSample(name: "sessions", help: "Open sessions.", kind: .gauge, labels: [.init("module", "rtmp"), .init("role", "publish")], value: 1),
            MetricSample(name: "up", help: "Up.", kind: .gauge, value: 1),
            MetricSample(name: "sessions", help: "ignored: the family's first help wins", kind: .gauge, labels: [.init("module", "srt"), .init("role", "play")], value: 0),
        ], prefix: "stream_proxy_")
        #expect(text == """
            # HELP stream_proxy_sessions Open sessions.
            # TYPE stream_proxy_sessions gauge
            stream_proxy_sessions{module="rtmp",role="publish"} 1
            stream_proxy_sessions{module="srt",role="play"} 0
            # HELP stream_proxy_up Up.
            # TYPE stream_proxy_up gauge
            stream_proxy_up 1

            """)
    }

    @Test func escapesLabelValuesAndHelp() {
        #expect(PrometheusText.escapeLabelValue(#"a\b"c"# + "\nd") == #"a\\b\"c\nd"#)
        #expect(PrometheusText.escapeLabelValue("live/stream é") == "live/stream é")
        #expect(PrometheusText.escapeHelp("x\\y\n\"z\"") == #"x\\y\n"z""#)
        let text = PrometheusText.render([MetricSample(name: "m", help: "h", kind: .counter, labels: [.init("k", "\"\n\\")], value: 2)])
        #expect(text.hasSuffix(#"m{k="\"\n\\"} 2"# + "\n"))
    }

    @Test func formatsValues() {
        #expect(PrometheusText.value(0) == "0")
        #expect(PrometheusText.value(18_446_744_073_709) == "18446744073709")
        #expect(PrometheusText.value(0.25) == "0.25")
        #expect(PrometheusText.value(-3) == "-3")
        #expect(PrometheusText.value(.nan) == "NaN")
        #expect(PrometheusText.value(.infinity) == "+Inf")
        #expect(PrometheusText.value(-.infinity) == "-Inf")
        #expect(PrometheusText.value(1e300) == "1e+300")
    }

    @Test func leavesOutInvalidNamesAndMixedKinds() {
        #expect(PrometheusText.isMetricName("stream_proxy:x_1"))
        #expect(!PrometheusText.isMetricName("1x") && !PrometheusText.isMetricName("a-b") && !PrometheusText.isMetricName(""))
        #expect(PrometheusText.isLabelName("module") && !PrometheusText.isLabelName("__name") && !PrometheusText.isLabelName("a:b"))
        let text = PrometheusText.render([
            MetricSample(name: "bad-name", help: "", kind: .gauge, value: 1),
            MetricSample(name: "ok", help: "", kind: .gauge, labels: [.init("bad label", "v")], value: 1),
            MetricSample(name: "ok", help: "", kind: .gauge, value: 2),
            MetricSample(name: "ok", help: "", kind: .counter, value: 3),
        ])
        #expect(text == "# HELP ok \n# TYPE ok gauge\nok 2\n")
    }
}
