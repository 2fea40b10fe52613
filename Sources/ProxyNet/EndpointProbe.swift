import NIOCore
import NIOPosix
import ProxyCore

/// One active health check of a backend endpoint: it succeeds when the endpoint answered the way
/// its protocol does, and throws `ProbeFailure` naming what went wrong otherwise.
public protocol EndpointProbe: Sendable {
    /// What it checks, for logs and `/api/v1/origins` (`rtmp handshake`, `srt induction`).
    var name: String { get }
    func check(_ address: BackendAddress, timeout: Duration, group: any EventLoopGroup) async throws
}

/// An optional capability of a module: the probe the health checker runs on each backend endpoint
/// kind the module's sessions dial. Kinds no enabled module probes are not checked.
public protocol HealthProbing {
    var healthProbes: [EndpointKind: any EndpointProbe] { get }
}

public struct ProbeFailure: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
    public static let timeout = ProbeFailure("no answer within the timeout")
}

/// What an exchange probe makes of the bytes received so far: enough to say yes or no, or wait.
public enum ProbeVerdict: Sendable, Equatable {
    case healthy
    case unhealthy(String)
    case needMore
}

/// Connects over TCP, writes `request`, and reads until `judge` decides (at most `maxReply`
/// bytes): a connect that a hung process's kernel still accepts fails here, for nothing answers.
public struct TCPExchangeProbe: EndpointProbe {
    public var name: String
    public var request: [UInt8]
    public var maxReply: Int
    public var judge: @Sendable ([UInt8]) -> ProbeVerdict

    public init(name: String, request: [UInt8], maxReply: Int = 4096, judge: @escaping @Sendable ([UInt8]) -> ProbeVerdict) {
        self.name = name
        self.request = request
        self.maxReply = maxReply
        self.judge = judge
    }

    public func check(_ address: BackendAddress, timeout: Duration, group: any EventLoopGroup) async throws {
        let loop = group.next()
        let promise = loop.makePromise(of: Void.self)
        let deadline = loop.scheduleTask(in: .nanoseconds(Int64(timeout.seconds * 1e9))) { promise.fail(ProbeFailure.timeout) }
        let request = self.request
        let (maxReply, judge) = (self.maxReply, self.judge)
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(.nanoseconds(Int64(timeout.seconds * 1e9)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler(maxReply: maxReply, judge: judge, promise: promise))
                }
            }
            .connect(host: address.host, port: address.port)
        connected.whenSuccess { channel in
            channel.writeAndFlush(channel.allocator.buffer(bytes: request), promise: nil)
            promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        connected.whenFailure { error in promise.fail(ProbeFailure("connect failed: \(error)")) }
        defer { deadline.cancel() }
        try await promise.futureResult.get()
    }
}

/// Sends `request` in one datagram and waits for a reply `judge` accepts (SRT's induction).
public struct UDPExchangeProbe: EndpointProbe {
    public var name: String
    public var request: [UInt8]
    public var judge: @Sendable ([UInt8]) -> ProbeVerdict

    public init(name: String, request: [UInt8], judge: @escaping @Sendable ([UInt8]) -> ProbeVerdict) {
        self.name = name
        self.request = request
        self.judge = judge
    }

    public func check(_ address: BackendAddress, timeout: Duration, group: any EventLoopGroup) async throws {
        let loop = group.next()
        let promise = loop.makePromise(of: Void.self)
        let deadline = loop.scheduleTask(in: .nanoseconds(Int64(timeout.seconds * 1e9))) { promise.fail(ProbeFailure.timeout) }
        defer { deadline.cancel() }
        let judge = self.judge
        let channel: any Channel
        do {
            channel = try await UDPBackendDialer.connect(to: address, on: loop) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DatagramExchangeHandler(judge: judge, promise: promise))
                }
            }.get()
        } catch {
            let failure = ProbeFailure("no socket: \(error)")
            promise.fail(failure)
            throw failure
        }
        let request = self.request
        channel.writeAndFlush(channel.allocator.buffer(bytes: request), promise: nil)
        // A datagram can be lost: the request goes again every 250 ms until an answer or the timeout.
        let again = loop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
            channel.writeAndFlush(channel.allocator.buffer(bytes: request), promise: nil)
        }
        promise.futureResult.whenComplete { _ in
            again.cancel()
            channel.close(promise: nil)
        }
        try await promise.futureResult.get()
    }
}

private final class ExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let maxReply: Int
    private let judge: @Sendable ([UInt8]) -> ProbeVerdict
    private let promise: EventLoopPromise<Void>
    private var received: [UInt8] = []

    init(maxReply: Int, judge: @escaping @Sendable ([UInt8]) -> ProbeVerdict, promise: EventLoopPromise<Void>) {
        self.maxReply = maxReply
        self.judge = judge
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received += buffer.readableBytesView.prefix(maxReply - received.count)
        switch judge(received) {
        case .healthy: promise.succeed()
        case .unhealthy(let why): promise.fail(ProbeFailure(why))
        case .needMore:
            if received.count >= maxReply { promise.fail(ProbeFailure("no valid answer in \(maxReply) bytes")) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ProbeFailure(received.isEmpty ? "closed without answering" : "closed before a valid answer"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(ProbeFailure("\(error)"))
        context.close(promise: nil)
    }
}

private final class DatagramExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let judge: @Sendable ([UInt8]) -> ProbeVerdict
    private let promise: EventLoopPromise<Void>

    init(judge: @escaping @Sendable ([UInt8]) -> ProbeVerdict, promise: EventLoopPromise<Void>) {
        self.judge = judge
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch judge(Array(unwrapInboundIn(data).data.readableBytesView)) {
        case .healthy: promise.succeed()
        case .unhealthy(let why): promise.fail(ProbeFailure(why))
        case .needMore: break  // another datagram may still come
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A connected UDP socket reports an ICMP port unreachable as an error: nothing listens.
        promise.fail(ProbeFailure("\(error)"))
    }
}

extension TCPExchangeProbe {
    /// An HTTP request whose answer is healthy when its status line says below 500.
    public static func httpStatus(name: String, method: String = "GET", path: String) -> TCPExchangeProbe {
        let request = "\(method) \(path) HTTP/1.1\r\nHost: origin\r\nUser-Agent: stream-proxy-health-check\r\nConnection: close\r\n\r\n"
        return TCPExchangeProbe(name: name, request: Array(request.utf8), maxReply: 1024) { bytes in
            let prefix = Array("HTTP/1.".utf8)
            guard bytes.count >= prefix.count else { return Array(bytes) == Array(prefix.prefix(bytes.count)) ? .needMore : .unhealthy("not HTTP") }
            guard Array(bytes.prefix(prefix.count)) == prefix else { return .unhealthy("not HTTP") }
            guard bytes.count >= 12 else { return .needMore }
            guard let code = Int(String(decoding: bytes[9..<12], as: UTF8.self)) else { return .unhealthy("malformed status line") }
            return code < 500 ? .healthy : .unhealthy("HTTP status \(code)")
        }
    }
}
