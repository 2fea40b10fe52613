import Logging
import NIOPosix
import ProxyCore
import ProxyNet
import Testing

@testable import RTMP

/// The reasons the module counts refused connections under, and what `GET /metrics` gets from it.
@Suite struct RTMPRefusalTests {
    @Test(arguments: [
        (RTMPError.badVersion(0x16), RTMPRefusal.badHandshake),
        (.handshakeTimeout, .handshakeTimeout),
        (.badChunkSize(0), .malformedChunk), (.tooManyChunkStreams(64), .malformedChunk),
        (.continuationWithoutHeader(csid: 5), .malformedChunk), (.interruptedMessage(csid: 3), .malformedChunk),
        (.messageTooLarge(9 << 20, limit: 8 << 20), .messageTooLarge),
        (.ambiguousControl("Abort"), .ambiguousControl),
        (.badCommand("truncated string"), .malformedCommand),
        (.commandOutOfOrder("a second connect"), .commandOutOfOrder),
        (.noStream("connect without tcUrl"), .noStream),
        (.bufferLimit(1 << 20), .bufferLimit),
        (.publishDenied("bad token"), .publishDenied),
        (.backendHandshake("no answer in time"), .backendUnreachable),
    ])
    func eachClosingErrorHasItsReason(error: RTMPError, reason: RTMPRefusal) {
        #expect(RTMPRefusal(error) == reason)
    }

    @Test func routingErrorsHaveTheirReasonsAndOtherErrorsNone() throws {
        #expect(RTMPRefusal(RoutingError.noBackend(.rtmp)) == .noBackend)
        #expect(RTMPRefusal(RoutingError.registry("down")) == .registryError)
        #expect(RTMPRefusal(RoutingError.noCapacity(.rtmp, "every alive backend with one is draining")) == .noCapacity)
        let key = try StreamKey(vhost: nil, app: "live", stream: "s")
        #expect(RTMPRefusal(RoutingError.backendLacksProtocol(key, Backend.ID(rawValue: "b"), .rtmp)) == .backendLacksProtocol)
        #expect(RTMPRefusal(RTMPError.streamIDMismatch(proxy: 1, backend: 2)) == nil, "a backend's fault after the relay started")
        #expect(RTMPRefusal(RoutingError.noStream(try StreamKey(vhost: nil, app: "live", stream: "s"))) == .streamNotFound)
        #expect(RTMPRefusal(CancellationError()) == nil, "not a refusal")
    }

    @Test func labelsAreDistinctPrometheusLabelValues() {
        let labels = RTMPRefusal.allCases.map(\.label)
        #expect(Set(labels).count == labels.count)
        #expect(labels.allSatisfy { $0.wholeMatch(of: #/[a-z]+(_[a-z]+)*/#) != nil })
    }

    @Test func theModuleReportsEveryReasonAtZeroBeforeItRuns() async throws {
        let module = try RTMPModule(config: RTMPConfig(), context: ModuleContext(
            router: Router(registry: MemoryRegistry(), strategy: RoundRobinStrategy()), eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: Logger(label: "test.rtmp", factory: { _ in SwiftLogNoOpLogHandler() })))
        let samples = await module.metricSamples()
        #expect(samples.map { $0.labels.first?.value } == RTMPRefusal.allCases.map(\.label))
        #expect(samples.allSatisfy { $0.name == "rtmp_refused_connections_total" && $0.kind == .counter && $0.value == 0 })
    }
}
