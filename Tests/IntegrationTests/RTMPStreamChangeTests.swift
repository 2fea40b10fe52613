import Foundation
import NIOCore
import ProxyTesting
import Testing

@testable import RTMP

/// A relayed RTMP connection carries one stream in one role: a later publish or play (a player
/// turning publisher, a publisher switching streams) must not reach the origin past the hook and
/// the router. Real nginx-rtmp origin, a hand-written RTMP client (ffmpeg never does this).
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct RTMPStreamChangeTests {
    static func message(_ command: RTMPCommand, csid: UInt32 = 3, streamID: UInt32 = 0) -> [UInt8] {
        var out = ByteBuffer()
        RTMPChunkEncoder.writeMessage(csid: csid, typeID: RTMPMessageType.commandAMF0, streamID: streamID, payload: command.encoded(), chunkSize: 128, into: &out)
        return Array(out.readableBytesView)
    }

    /// Handshake, connect, createStream and `first` (publish or play) of `name`, as one write.
    static func opening(port: Int, first: String, name: String) -> [UInt8] {
        var bytes: [UInt8] = [3] + [UInt8](repeating: 0, count: 1536) + [UInt8](repeating: 7, count: 1536)
        let connect = RTMPCommand(name: "connect", transactionID: 1, commandObject: .object([
            "app": .string("live"), "tcUrl": .string("rtmp://127.0.0.1:\(port)/live"), "type": .string("nonprivate"),
        ]))
        bytes += message(connect)
        bytes += message(RTMPCommand(name: "createStream", transactionID: 2))
        let args: [AMF0Value] = first == "publish" ? [.string(name), .string("live")] : [.string(name), .number(-2000)]
        bytes += message(RTMPCommand(name: first, transactionID: 3, arguments: args), csid: 8, streamID: 1)
        return bytes
    }

    @Test(arguments: [("publish", "publish"), ("play", "publish"), ("publish", "play")])
    func aLaterPublishOrPlayOnARelayedConnectionClosesIt(first: String, second: String) async throws {
        let nginx = try await NginxRTMP.start()
        defer { nginx.stop() }
        let proxy = try await ProxyProcess.start(config: RTMPRelayTests.config())
        try await RTMPRelayTests.register(nginx, as: "n", with: proxy)
        let port = try await RTMPRelayTests.rtmpPort(proxy)
        let name = RTMPRelayTests.unique("one"), other = RTMPRelayTests.unique("two")

        let client = try await RawSocket(port: port)
        client.send(Self.opening(port: port, first: first, name: name))
        let started = first == "publish" ? "NetStream.Publish.Start" : "NetStream.Play.Start"
        let (found, _) = await client.read(until: started, timeout: .seconds(10))
        #expect(found, "the origin started the first \(first)")

        // A second stream on the same connection, as the origin would take it.
        let args: [AMF0Value] = second == "publish" ? [.string(other), .string("live")] : [.string(other), .number(-2000)]
        client.send(Self.message(RTMPCommand(name: "createStream", transactionID: 4))
            + Self.message(RTMPCommand(name: second, transactionID: 5, arguments: args), csid: 9, streamID: 2))
        #expect(await client.waitForClose(timeout: .seconds(5)), "the connection is closed on the \(second)")
        try await Wait.until("the cause in the log") {
            proxy.log.contains("\(second) on a connection already relayed is refused") ? true : nil
        }
        try await RTMPRelayTests.waitForRefusals(proxy, ["stream_change": 1])
        #expect(!(nginx.published + nginx.played).contains(other), "the origin never saw \(other): \(nginx.log.suffix(2000))")
        #expect((first == "publish" ? nginx.published : nginx.played).contains(name))
    }

    @Test func aConnectWhoseAppDisagreesWithItsTcUrlNeverReachesTheOrigin() async throws {
        let nginx = try await NginxRTMP.start()
        defer { nginx.stop() }
        let proxy = try await ProxyProcess.start(config: RTMPRelayTests.config())
        try await RTMPRelayTests.register(nginx, as: "n", with: proxy)
        let port = try await RTMPRelayTests.rtmpPort(proxy)
        let client = try await RawSocket(port: port)
        var bytes: [UInt8] = [3] + [UInt8](repeating: 0, count: 1536) + [UInt8](repeating: 7, count: 1536)
        bytes += Self.message(RTMPCommand(name: "connect", transactionID: 1, commandObject: .object([
            "app": .string("private"), "tcUrl": .string("rtmp://127.0.0.1:\(port)/live"),
        ])))
        bytes += Self.message(RTMPCommand(name: "publish", transactionID: 3, arguments: [.string("x"), .string("live")]), csid: 8, streamID: 1)
        client.send(bytes)
        #expect(await client.waitForClose(timeout: .seconds(5)))
        try await Wait.until("the cause in the log") { proxy.log.contains("is not the application of its tcUrl") ? true : nil }
        try await RTMPRelayTests.waitForRefusals(proxy, ["no_stream": 1])
        #expect(nginx.published.isEmpty, "nothing reached the origin")
    }
}
