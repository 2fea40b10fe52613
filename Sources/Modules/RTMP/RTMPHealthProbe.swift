import NIOCore
import ProxyCore
import ProxyNet

/// The health check of an rtmp endpoint: C0+C1 out, S0 (version 3) and S1 back. A process that
/// hangs (SIGSTOP) still has its connections accepted by the kernel, but sends no S0/S1.
extension RTMPModule: HealthProbing {
    public var healthProbes: [EndpointKind: any EndpointProbe] { [.rtmp: Self.healthProbe] }

    static let healthProbe = TCPExchangeProbe(
        name: "rtmp handshake", request: Array(RTMPHandshake.clientHello(allocator: ByteBufferAllocator()).readableBytesView),
        maxReply: 1 + RTMPHandshake.packetSize
    ) { bytes in
        guard let first = bytes.first else { return .needMore }
        guard first == RTMPHandshake.version else { return .unhealthy("not RTMP (S0 \(first))") }
        return bytes.count >= 1 + RTMPHandshake.packetSize ? .healthy : .needMore
    }
}
