import NIOCore
import NIOPosix
import Testing

@testable import ProxyNet

@Suite struct ReasonCountersTests {
    enum Reason: CountedReason {
        case tooLarge, timeout, noBackend

        var label: String {
            switch self {
            case .tooLarge: "too_large"
            case .timeout: "timeout"
            case .noBackend: "no_backend"
            }
        }
    }

    @Test func everyReasonIsReportedAtZeroBeforeTheFirstIncrement() {
        let counters = ReasonCounters<Reason>()
        let samples = counters.samples(name: "x_refused_total", help: "Refused, by reason.")
        #expect(samples.map { $0.labels } == [[.init("reason", "too_large")], [.init("reason", "timeout")], [.init("reason", "no_backend")]])
        #expect(samples.allSatisfy { $0.value == 0 && $0.kind == .counter && $0.name == "x_refused_total" && $0.help == "Refused, by reason." })
    }

    @Test func eachIncrementCountsForItsOwnReasonOnly() {
        let counters = ReasonCounters<Reason>()
        counters.increment(.timeout)
        counters.increment(.timeout)
        counters.increment(.noBackend)
        #expect(counters[.tooLarge] == 0)
        #expect(counters[.timeout] == 2)
        #expect(counters[.noBackend] == 1)
        let samples = counters.samples(name: "x_total", help: "h", label: "cause")
        #expect(samples.map(\.value) == [0, 2, 1])
        #expect(samples.map { $0.labels.first?.name } == ["cause", "cause", "cause"])
    }

    @Test func incrementsFromManyEventLoopsAtOnceAreAllCounted() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 4)
        let counters = ReasonCounters<Reason>()
        let perLoop = 50_000
        let loops = Array(group.makeIterator())
        let done = loops.map { loop in
            loop.submit {
                for i in 0..<perLoop { counters.increment(i % 5 == 0 ? .tooLarge : .timeout) }
            }
        }
        for future in done { try await future.get() }
        #expect(counters[.tooLarge] == UInt64(loops.count * perLoop / 5))
        #expect(counters[.timeout] == UInt64(loops.count * perLoop * 4 / 5))
        #expect(counters[.noBackend] == 0)
        try await group.shutdownGracefully()
    }
}
