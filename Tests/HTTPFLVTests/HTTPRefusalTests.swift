import Logging
import NIOPosix
import ProxyCore
import ProxyHTTP
import ProxyNet
import Testing

@testable import HTTPFLV

/// The reasons the module counts refused requests under, the status each answers, and what
/// `GET /metrics` gets from the module.
@Suite struct HTTPRefusalTests {
    @Test func eachReasonHasOneStatus() {
        let statuses: [HTTPRefusal: UInt?] = [
            .malformedRequest: 400, .headerTimeout: 408, .requestLineTooLong: 414, .headTooLarge: 431, .requestBody: 400,
            .methodNotAllowed: 405, .noStream: 400, .notAStream: 404, .noSuchFile: 404, .forbiddenPath: 403,
            .unknownHLSSession: 404, .noBackend: 503, .noCapacity: 503, .registryError: 503, .backendLacksProtocol: 502,
            .backendUnreachable: 502, .backendBadResponse: 502, .backendTimeout: 504, .tooManyPipelined: nil, .rateLimited: 429,
            .streamNotFound: 404, .playDenied: 403,
        ]
        #expect(statuses.count == HTTPRefusal.allCases.count)
        for reason in HTTPRefusal.allCases {
            #expect(reason.status?.code == statuses[reason]!, "\(reason)")
        }
    }

    @Test func refusedHeadsAndRoutingErrorsHaveTheirReasons() throws {
        #expect(HTTPRefusal(ClientRequestHeadError.requestLineTooLong) == .requestLineTooLong)
        #expect(HTTPRefusal(ClientRequestHeadError.headTooLarge) == .headTooLarge)
        #expect(HTTPRefusal(ClientRequestHeadError.malformed("no version")) == .malformedRequest)
        for error in [ClientRequestHeadError.requestLineTooLong, .headTooLarge, .malformed("x")] {
            #expect(HTTPRefusal(error).status?.code == UInt(error.status), "the reader's status for \(error)")
        }
        #expect(HTTPRefusal(routing: RoutingError.noBackend(.http)) == .noBackend)
        #expect(HTTPRefusal(routing: RoutingError.registry("down")) == .registryError)
        #expect(HTTPRefusal(routing: RoutingError.noCapacity(.http, "every alive backend with one is draining")) == .noCapacity)
        let key = try StreamKey(vhost: nil, app: "live", stream: "s")
        #expect(HTTPRefusal(routing: RoutingError.backendLacksProtocol(key, Backend.ID(rawValue: "b"), .http)) == .backendLacksProtocol)
        #expect(HTTPRefusal(routing: RoutingError.noStream(key)) == .streamNotFound)
        #expect(HTTPRefusal.streamNotFound.status == .notFound, "a player whose stream no publisher holds: 404")
        #expect(HTTPRefusal(routing: CancellationError()) == .registryError, "any other error from routing counts as the registry's")
    }

    @Test func labelsAreDistinctPrometheusLabelValues() {
        let labels = HTTPRefusal.allCases.map(\.label)
        #expect(Set(labels).count == labels.count)
        #expect(labels.allSatisfy { $0.wholeMatch(of: #/[a-z]+(_[a-z]+)*/#) != nil })
    }

    @Test func theModuleReportsEveryReasonAtZeroBeforeItRuns() async throws {
        let module = try HTTPFLVModule(config: HTTPFLVConfig(), context: ModuleContext(
            router: Router(registry: MemoryRegistry(), strategy: RoundRobinStrategy()), eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: Logger(label: "test.http-flv", factory: { _ in SwiftLogNoOpLogHandler() })))
        let samples = await module.metricSamples()
        #expect(samples.map { $0.labels.first?.value } == HTTPRefusal.allCases.map(\.label))
        #expect(samples.allSatisfy { $0.name == "http_flv_refused_requests_total" && $0.kind == .counter && $0.value == 0 })
    }
}
