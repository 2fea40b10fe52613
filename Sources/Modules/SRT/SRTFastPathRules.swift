import ProxyNet

extension SRTPacket {
    /// What UDPFastPath relays: a caller's data and control packets other than handshakes, by
    /// destination socket id (the session's backend socket); SHUTDOWN is also reported to the
    /// session logic, which ends the session.
    public static let fastPathRules = UDPFastPath.Rules(
        clientKey: { bytes in
            guard bytes.count >= SRTPacket.headerSize, bytes.loadUnaligned(as: UInt16.self).bigEndian != SRTPacket.ControlWord.handshake else { return nil }
            return bytes.loadUnaligned(fromByteOffset: SRTPacket.destinationOffset, as: UInt32.self).bigEndian
        },
        notify: { bytes in bytes.count >= SRTPacket.headerSize && bytes.loadUnaligned(as: UInt16.self).bigEndian == SRTPacket.ControlWord.shutdown })
}
