import NIOCore

/// The PROXY protocol (HAProxy's, versions 1 and 2) header a dial to an origin starts with, so
/// the origin sees the client's address instead of the proxy's: `source` is the client, and
/// `destination` the proxy's address the client connected to. nil for addresses it cannot carry
/// (unix sockets, mixed families): the dial then goes without one.
public enum ProxyProtocolHeader {
    public enum Version: String, Sendable, CaseIterable {
        case off, v1, v2
    }

    /// `\r\n\r\n\0\r\nQUIT\n`, the version 2 signature.
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// Version 2: signature, PROXY command, `family` (0x11 TCP/IPv4, 0x21 TCP/IPv6), the length,
    /// both addresses in network order, both ports.
    static func binary(family: UInt8, _ source: [UInt8], _ destination: [UInt8], _ sourcePort: Int, _ destinationPort: Int) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeBytes(signature)
        b.writeInteger(UInt8(0x21))
        b.writeInteger(family)
        b.writeInteger(UInt16(source.count + destination.count + 4))
        b.writeBytes(source)
        b.writeBytes(destination)
        b.writeInteger(UInt16(sourcePort))
        b.writeInteger(UInt16(destinationPort))
        return b
    }

    public static func make(_ version: Version, source: SocketAddress?, destination: SocketAddress?) -> ByteBuffer? {
        guard let source, let destination, let sp = source.port, let dp = destination.port else { return nil }
        switch (version, source, destination) {
        case (.off, _, _):
            return nil
        case (.v1, .v4, .v4), (.v1, .v6, .v6):
            guard let s = source.ipAddress, let d = destination.ipAddress else { return nil }
            let family = if case .v4 = source { "TCP4" } else { "TCP6" }
            return ByteBuffer(string: "PROXY \(family) \(s) \(d) \(sp) \(dp)\r\n")
        case (.v2, .v4(let s), .v4(let d)):
            return binary(family: 0x11, withUnsafeBytes(of: s.address.sin_addr, Array.init), withUnsafeBytes(of: d.address.sin_addr, Array.init), sp, dp)
        case (.v2, .v6(let s), .v6(let d)):
            return binary(family: 0x21, withUnsafeBytes(of: s.address.sin6_addr, Array.init), withUnsafeBytes(of: d.address.sin6_addr, Array.init), sp, dp)
        default:
            return nil
        }
    }
}

/// Writes a PROXY protocol header as the dial to the origin connects, before any handler after
/// it writes (the RTMP handshake), then leaves the pipeline.
public final class ProxyProtocolPreamble: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer
    private let header: ByteBuffer

    public init(header: ByteBuffer) { self.header = header }

    public func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(header), promise: nil)
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
