import ProxyNet
import Synchronization

/// The fan-out's counters (relaxed atomics), read by `/metrics`: added to once per chunk per
/// event loop, or when a player joins, leaves or is slow; never per player write.
final class FanoutStats: Sendable {
    let streams = Atomic<Int>(0)
    let players = Atomic<Int>(0)
    let upstreamBytes = Atomic<UInt64>(0)
    let deliveredBytes = Atomic<UInt64>(0)
    let slowSkips = Atomic<UInt64>(0)
    let slowDisconnects = Atomic<UInt64>(0)

    func samples() -> [MetricSample] {
        [
            MetricSample(
                name: "http_flv_fanout_streams", help: "HTTP-FLV streams this proxy pulls once for all their players (fan-out upstreams open).",
                kind: .gauge, value: Double(streams.load(ordering: .relaxed))),
            MetricSample(
                name: "http_flv_fanout_players", help: "HTTP-FLV players served from fan-out upstreams.",
                kind: .gauge, value: Double(players.load(ordering: .relaxed))),
            MetricSample(
                name: "http_flv_fanout_upstream_bytes_total", help: "Bytes fan-out upstreams received from origins.",
                kind: .counter, value: Double(upstreamBytes.load(ordering: .relaxed))),
            MetricSample(
                name: "http_flv_fanout_delivered_bytes_total", help: "Bytes fan-out players were sent (every player counted).",
                kind: .counter, value: Double(deliveredBytes.load(ordering: .relaxed))),
            MetricSample(
                name: "http_flv_fanout_slow_skips_total", help: "Times a slow fan-out player skipped to the next keyframe.",
                kind: .counter, value: Double(slowSkips.load(ordering: .relaxed))),
            MetricSample(
                name: "http_flv_fanout_slow_disconnects_total", help: "Fan-out players disconnected for being slow or stalled.",
                kind: .counter, value: Double(slowDisconnects.load(ordering: .relaxed))),
        ]
    }
}
