import NIOCore
import NIOEmbedded
import ProxyCore
import Testing

@testable import ProxyNet

/// The shared TCP relay on EmbeddedChannel: forward, hold read while the partner is unwritable,
/// resume, EOF half-close, close, and the close report.
@Suite struct GlueHandlerTests {
    /// Records outbound `read` and `close` calls at the head of a pipeline; swallows output
    /// half-closes (EmbeddedChannel cannot do them) and passes full closes on.
    final class HeadRecorder: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = NIOAny
        var reads = 0
        var closeModes: [CloseMode] = []

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            closeModes.append(mode)
            if mode == .output {
                promise?.succeed()
            } else {
                context.close(mode: mode, promise: promise)
            }
        }
    }

    final class Reports: @unchecked Sendable {
        var list: [RelayCloseReport] = []
    }

    struct Pair {
        let loop = EmbeddedEventLoop()
        let client: EmbeddedChannel
        let backend: EmbeddedChannel
        let clientHead = HeadRecorder()
        let backendHead = HeadRecorder()
        let counters = SessionCounters()
        let reports = Reports()

        init() throws {
            let reports = self.reports
            let glue = GlueHandler.matchedPair(counters: counters) { reports.list.append($0) }
            client = EmbeddedChannel(loop: loop)
            backend = EmbeddedChannel(loop: loop)
            try client.pipeline.syncOperations.addHandlers([clientHead, glue.client])
            try backend.pipeline.syncOperations.addHandlers([backendHead, glue.backend])
            let peer = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
            try client.connect(to: peer).wait()
            try backend.connect(to: peer).wait()
            #expect(client.isActive && backend.isActive)
        }
    }

    @Test func forwardsBytesBothWaysAndCountsThem() throws {
        let p = try Pair()
        try p.client.writeInbound(ByteBuffer(string: "from client"))
        p.client.pipeline.fireChannelReadComplete()
        #expect(try p.backend.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "from client"))

        try p.backend.writeInbound(ByteBuffer(string: "from backend!"))
        p.backend.pipeline.fireChannelReadComplete()
        #expect(try p.client.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "from backend!"))

        #expect(p.counters.bytesFromClient == 11)
        #expect(p.counters.bytesToClient == 13)
    }

    @Test func holdsReadWhilePartnerIsUnwritableAndResumes() throws {
        let p = try Pair()
        p.client.read()
        #expect(p.clientHead.reads == 1, "a read passes while the backend is writable")

        p.backend.isWritable = false
        p.backend.pipeline.fireChannelWritabilityChanged()
        p.client.read()
        #expect(p.clientHead.reads == 1, "the client's read is held while the backend cannot take writes")

        p.backend.isWritable = true
        p.backend.pipeline.fireChannelWritabilityChanged()
        #expect(p.clientHead.reads == 2, "the held read is re-issued when the backend is writable again")

        p.backend.pipeline.fireChannelWritabilityChanged()
        #expect(p.clientHead.reads == 2, "no read is issued when none was held")
    }

    @Test func backpressureWorksInTheOtherDirectionToo() throws {
        let p = try Pair()
        p.client.isWritable = false
        p.client.pipeline.fireChannelWritabilityChanged()
        p.backend.read()
        #expect(p.backendHead.reads == 0)
        p.client.isWritable = true
        p.client.pipeline.fireChannelWritabilityChanged()
        #expect(p.backendHead.reads == 1)
    }

    @Test func endOfInputHalfClosesThePartnerThenBothClose() throws {
        let p = try Pair()
        p.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(p.backendHead.closeModes == [.output], "client EOF half-closes the backend's output")
        #expect(p.client.isActive && p.backend.isActive)

        // The backend still answers after the client's EOF.
        try p.backend.writeInbound(ByteBuffer(string: "late reply"))
        p.backend.pipeline.fireChannelReadComplete()
        #expect(try p.client.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "late reply"))

        p.backend.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(p.clientHead.closeModes.first == .all, "client: input already ended, so EOF from the backend closes it fully")
        #expect(p.backendHead.closeModes.last == .all, "backend: both directions done, so it closes fully")
        #expect(!p.client.isActive && !p.backend.isActive)
        #expect(p.reports.list.count == 1)
        #expect(p.reports.list.first?.reason == "client ended its stream")
    }

    @Test func closeOfOneSideClosesTheOtherAndReportsOnce() throws {
        let p = try Pair()
        try p.client.writeInbound(ByteBuffer(string: "12345"))
        try p.backend.writeInbound(ByteBuffer(string: "abc"))
        _ = try p.client.close().wait()
        #expect(!p.backend.isActive, "closing the client closes the backend")
        #expect(p.reports.list.count == 1)
        let report = try #require(p.reports.list.first)
        #expect(report.reason == "client closed")
        #expect(report.bytesFromClient == 5)
        #expect(report.bytesToClient == 3)
    }

    @Test func errorClosesBothSidesWithTheErrorAsReason() throws {
        let p = try Pair()
        p.backend.pipeline.fireErrorCaught(ChannelError.connectTimeout(.seconds(1)))
        #expect(!p.client.isActive && !p.backend.isActive)
        #expect(p.reports.list.count == 1)
        #expect(p.reports.list.first?.reason.hasPrefix("backend error") == true)
    }
}
