import NIOCore
import ProxyNet
import Testing

/// The PROXY protocol headers byte for byte (HAProxy's proxy-protocol.txt, sections 2.1 and 2.2).
@Suite struct ProxyProtocolHeaderTests {
    @Test func versionOneIsOneTextLine() throws {
        let source = try SocketAddress(ipAddress: "192.0.2.7", port: 50_000), destination = try SocketAddress(ipAddress: "10.0.0.1", port: 1935)
        let header = try #require(ProxyProtocolHeader.make(.v1, source: source, destination: destination))
        #expect(String(buffer: header) == "PROXY TCP4 192.0.2.7 10.0.0.1 50000 1935\r\n")
        let six = try #require(ProxyProtocolHeader.make(
            .v1, source: try SocketAddress(ipAddress: "2001:db8::7", port: 1), destination: try SocketAddress(ipAddress: "::1", port: 2)))
        #expect(String(buffer: six) == "PROXY TCP6 2001:db8::7 ::1 1 2\r\n")
    }

    @Test func versionTwoIsTheBinaryForm() throws {
        let source = try SocketAddress(ipAddress: "192.0.2.7", port: 50_000), destination = try SocketAddress(ipAddress: "10.0.0.1", port: 1935)
        let header = try #require(ProxyProtocolHeader.make(.v2, source: source, destination: destination))
        #expect(Array(header.readableBytesView) == [
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C,
            192, 0, 2, 7, 10, 0, 0, 1, 0xC3, 0x50, 0x07, 0x8F,
        ])
        let six = try #require(ProxyProtocolHeader.make(
            .v2, source: try SocketAddress(ipAddress: "2001:db8::7", port: 1), destination: try SocketAddress(ipAddress: "::1", port: 2)))
        #expect(six.readableBytes == 16 + 36 && Array(six.readableBytesView)[13] == 0x21)
    }

    @Test func offOrMixedFamiliesGiveNoHeader() throws {
        let four = try SocketAddress(ipAddress: "192.0.2.7", port: 1), six = try SocketAddress(ipAddress: "::1", port: 2)
        #expect(ProxyProtocolHeader.make(.off, source: four, destination: four) == nil)
        #expect(ProxyProtocolHeader.make(.v1, source: four, destination: six) == nil)
        #expect(ProxyProtocolHeader.make(.v2, source: nil, destination: four) == nil)
    }
}
