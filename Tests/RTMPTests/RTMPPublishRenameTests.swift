import NIOCore
import Testing

@testable import RTMP

/// Publishing under another name (the coordinator format's origin_name): only the publish
/// command changes in the replayed bytes; every other byte is the client's.
@Suite struct RTMPPublishRenameTests {
    @Test func thePublishCommandIsRewrittenAndTheBytesAroundItKept() throws {
        var stream = ByteBuffer()
        let before = RTMPCommand(name: "createStream", transactionID: 4, arguments: [])
        RTMPChunkEncoder.writeMessage(csid: 3, typeID: RTMPMessageType.commandAMF0, streamID: 0, payload: before.encoded(), chunkSize: 128, into: &stream)
        let start = stream.readableBytes
        let publish = RTMPCommand(name: "publish", transactionID: 5, arguments: [.string("secret-key?x=1"), .string("live")])
        RTMPChunkEncoder.writeMessage(
            csid: 8, timestamp: 40, typeID: RTMPMessageType.commandAMF0, streamID: 1, payload: publish.encoded(), chunkSize: 128, into: &stream)
        let end = stream.readableBytes
        var media = ByteBuffer(bytes: [0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64])
        RTMPChunkEncoder.writeMessage(csid: 6, timestamp: 80, typeID: RTMPMessageType.video, streamID: 1, payload: media, chunkSize: 128, into: &stream)

        let routed = RTMPRoutedCommand(range: start..<end, singleChunk: true, csid: 8, timestamp: 40, streamID: 1, command: publish)
        var out = try #require(RTMPPublishRename.replay(stream, routed, name: "chan-1?x=1", chunkSize: 128))
        #expect(out.getSlice(at: out.readerIndex, length: start) == stream.getSlice(at: stream.readerIndex, length: start), "the bytes before are the client's")

        var decoder = RTMPChunkDecoder()
        var chunks: [RTMPChunk] = []
        while let chunk = try decoder.next(&out) { chunks.append(chunk) }
        #expect(chunks.map(\.csid) == [3, 8, 6])
        let renamed = try RTMPCommand(decoding: chunks[1].payload, amf3: false)
        #expect(renamed.name == "publish" && renamed.transactionID == 5 && renamed.arguments == [.string("chan-1?x=1"), .string("live")])
        #expect(chunks[1].timestamp == 40 && chunks[1].streamID == 1)
        #expect(chunks[2].payload == media.readSlice(length: 7)! && chunks[2].timestamp == 80, "the media after it is the client's")
        #expect(RTMPPublishRename.replay(stream, RTMPRoutedCommand(range: start..<end, singleChunk: false, csid: 8, timestamp: 40, streamID: 1, command: publish),
                                         name: "x", chunkSize: 128) == nil, "a command split over chunks is not cut out")
    }
}
