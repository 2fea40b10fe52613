import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet

// Relaying established sessions both ways.
extension SRTServerHandler {
    func forwardToBackend(_ session: SRTSession, _ buffer: ByteBuffer) {
        guard let backend = session.backend, backend.forward(buffer) else {
            drops.note(.notWritable, from: session.client, detail: "backend socket not writable", logger: logger)
            return
        }
        session.bytes.addFromClient(buffer.readableBytes)
        if !session.backendFlushPending {
            session.backendFlushPending = true
            backendsToFlush.append(session)
        }
    }

    /// A datagram from `session`'s backend: to the client, unchanged (flushed by `flushClients`).
    func relayToClient(_ session: SRTSession, _ buffer: ByteBuffer) {
        guard session.state == .connected, let context else { return }
        guard context.channel.isWritable else {
            drops.note(.notWritable, from: session.client, detail: "listener socket not writable", logger: logger)
            return
        }
        session.bytes.addToClient(buffer.readableBytes)
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: session.client, data: buffer)), promise: nil)
        clientFlushPending = true
        if buffer.readableBytes >= SRTPacket.headerSize, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == SRTPacket.ControlWord.shutdown {
            flushClients()
            teardown(session, reason: "backend sent SHUTDOWN", notify: false)
        }
    }

    func flushClients() {
        guard clientFlushPending else { return }
        clientFlushPending = false
        context?.flush()
    }

    func send(_ bytes: [UInt8], to address: SocketAddress) {
        guard let context else { return }
        let buffer = context.channel.allocator.buffer(bytes: bytes)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: buffer)), promise: nil)
    }
}
