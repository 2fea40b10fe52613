import Logging
import NIOCore

/// Relays a backend's RTMP chunk stream to the client, translating chunk headers so the client's
/// chunk-stream state never depends on messages the proxy filtered or wrote itself.
///
/// Each backend chunk becomes one client chunk with the same payload slice (no copy, no
/// reassembly): a message's first chunk gets a full (type 0) header with the absolute timestamp
/// and the client's message stream id, continuation chunks a type 3 header. The backend's Set
/// Chunk Size is forwarded, so both sides chunk alike. Commands are read whole: while the session
/// is being set up, replies to commands the proxy already answered (connect, createStream, ...)
/// are dropped, and the backend's publish/play status decides whether the session is live.
final class RTMPBackendTranslator: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum SetupOutcome {
        case started(code: String)
        case refused(String)
    }

    private var decoder: RTMPChunkDecoder
    private var assembler: RTMPMessageAssembler
    private var pending = ByteBuffer()
    /// Transaction ids of the client's commands the proxy answered itself.
    private var answered: Set<Double>
    private let createStreamTransaction: Double?
    private var setupDone = false
    private let onSetup: (SetupOutcome) -> Void
    private var chunks: [(header: Int, headerLength: Int, payload: ByteBuffer, media: Bool)] = []
    /// A player routed again after its stream's origin died: what the backend sends is held
    /// until its first audio or video message (a publisher is there), so that a player whose
    /// stream gets no publisher can still be told NetStream.Play.StreamNotFound (`stopHolding`).
    private var holding: Bool
    private var held: [ByteBuffer] = []
    private var heldBytes = 0
    static let maxHeldBytes = 256 * 1024

    init(
        answered: Set<Double>, createStreamTransaction: Double?, limits: RTMPChunkDecoder.Limits, holdUntilMedia: Bool = false,
        onSetup: @escaping (SetupOutcome) -> Void
    ) {
        self.holding = holdUntilMedia
        self.answered = answered
        self.createStreamTransaction = createStreamTransaction
        self.decoder = RTMPChunkDecoder(limits: limits)
        self.assembler = RTMPMessageAssembler(maxSize: 256 * 1024)
        self.onSetup = onSetup
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        if pending.readableBytes > 0 {
            pending.writeBuffer(&input)
            input = pending
            pending = ByteBuffer()
        }
        var headers = context.channel.allocator.buffer(capacity: 256)
        chunks.removeAll(keepingCapacity: true)
        do {
            while let chunk = try decoder.next(&input) {
                if chunk.isCommand {
                    guard let payload = try assembler.add(chunk) else { continue }
                    try forwardCommand(chunk, payload, headers: &headers)
                } else {
                    let start = headers.writerIndex
                    if chunk.isFirst {
                        RTMPChunkEncoder.writeFirstHeader(
                            csid: chunk.csid, timestamp: chunk.timestamp, length: chunk.messageLength, typeID: chunk.typeID,
                            streamID: clientStreamID(chunk.streamID), into: &headers)
                    } else {
                        RTMPChunkEncoder.writeContinuationHeader(csid: chunk.csid, timestamp: chunk.timestamp, into: &headers)
                    }
                    let media = chunk.typeID == RTMPMessageType.audio || chunk.typeID == RTMPMessageType.video
                        || chunk.typeID == RTMPMessageType.aggregate
                    chunks.append((start, headers.writerIndex - start, chunk.payload, media))
                }
            }
        } catch {
            context.fireErrorCaught(error)
            return
        }
        if input.readableBytes > 0 { pending = input }
        // All headers are written: slice them now (no later write copies the shared storage).
        if holding {
            if chunks.contains(where: \.media) || heldBytes > Self.maxHeldBytes {
                holding = false
                for buffer in held { context.fireChannelRead(wrapInboundOut(buffer)) }
                held = []
            } else {
                for chunk in chunks {
                    let header = headers.getSlice(at: chunk.header, length: chunk.headerLength)!
                    held.append(header)
                    if chunk.payload.readableBytes > 0 { held.append(chunk.payload) }
                    heldBytes += header.readableBytes + chunk.payload.readableBytes
                }
                chunks.removeAll(keepingCapacity: true)
                return
            }
        }
        for chunk in chunks {
            context.fireChannelRead(wrapInboundOut(headers.getSlice(at: chunk.header, length: chunk.headerLength)!))
            if chunk.payload.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(chunk.payload)) }
        }
        chunks.removeAll(keepingCapacity: true)
    }

    /// Ends the hold without passing anything on; true when it was still holding (no media came).
    func stopHolding() -> Bool {
        guard holding else { return false }
        holding = false
        held = []
        return true
    }

    /// Commands are re-chunked whole (they are small) after the filtering decision.
    private func forwardCommand(_ chunk: RTMPChunk, _ payload: ByteBuffer, headers: inout ByteBuffer) throws(RTMPError) {
        let command: RTMPCommand
        do {
            command = try RTMPCommand(decoding: payload, amf3: chunk.typeID == RTMPMessageType.commandAMF3)
        } catch {
            throw .badCommand("from backend: \(error)")
        }
        if !setupDone {
            if command.name == "_error", answered.contains(command.transactionID) {
                // The backend refuses what the proxy accepted: the client gets the backend's own message.
                finishSetup(.refused(Self.describe(command)))
            } else if command.name == "_result", answered.contains(command.transactionID) {
                if command.transactionID == createStreamTransaction, let id = command.arguments.first?.number, id != RTMPReplies.streamID {
                    throw .streamIDMismatch(proxy: RTMPReplies.streamID, backend: id)
                }
                return  // the proxy already answered the client
            }
            if command.name == "onStatus", let info = command.arguments.first?.object {
                let code = info["code"]?.string ?? ""
                if code == "NetStream.Publish.Start" || code == "NetStream.Play.Start" || code == "NetStream.Play.Reset" {
                    finishSetup(.started(code: code))
                } else if info["level"]?.string == "error" {
                    finishSetup(.refused(Self.describe(command)))
                }
            }
        }
        let start = headers.writerIndex
        var message = ByteBuffer()
        RTMPChunkEncoder.writeMessage(
            csid: chunk.csid, timestamp: chunk.timestamp, typeID: RTMPMessageType.commandAMF0, streamID: clientStreamID(chunk.streamID),
            payload: chunk.typeID == RTMPMessageType.commandAMF3 ? command.encoded() : payload, chunkSize: decoder.chunkSize,
            into: &message)
        headers.writeBuffer(&message)
        chunks.append((start, headers.writerIndex - start, ByteBuffer(), false))
    }

    private func finishSetup(_ outcome: SetupOutcome) {
        guard !setupDone else { return }
        setupDone = true
        answered = []
        onSetup(outcome)
    }

    /// The client's message stream is the one the proxy created for it.
    private func clientStreamID(_ backendStreamID: UInt32) -> UInt32 {
        backendStreamID == 0 ? 0 : UInt32(RTMPReplies.streamID)
    }

    private static func describe(_ command: RTMPCommand) -> String {
        let info = command.arguments.first?.object ?? command.commandObject.object
        return [info?["code"]?.string, info?["description"]?.string].compactMap { $0 }.joined(separator: ": ")
    }
}
