// SRT packet layout and the handshake (draft-sharabayko-srt section 3). Imports nothing, so the
// fuzz harness (fuzz/run) compiles it together with ProxyCore's parsers.

/// The 16-byte header every SRT packet starts with, and the control types the proxy tells apart.
/// All fields are big-endian. Word 0 bit 0: 0 = data, 1 = control (type in bits 1-15);
/// word 2 is the timestamp, word 3 the destination socket id.
public enum SRTPacket {
    public static let headerSize = 16
    /// Offset of the destination socket id in the header.
    public static let destinationOffset = 12

    /// The first 16 bits of a control packet: the control bit and the type. Data packets have
    /// the top bit clear; only handshakes and SHUTDOWN are told apart by the proxy.
    public enum ControlWord {
        public static let handshake: UInt16 = 0x8000
        public static let shutdown: UInt16 = 0x8005
    }

    /// A SHUTDOWN control packet (header + 4 bytes of zero, as libsrt sends it) to `destination`.
    public static func shutdown(destination: UInt32, timestamp: UInt32 = 0) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(20)
        out.appendBE32(0x8005_0000)
        out.appendBE32(0)
        out.appendBE32(timestamp)
        out.appendBE32(destination)
        out.appendBE32(0)
        return out
    }
}

/// Why a datagram was not a usable handshake.
public enum SRTHandshakeError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooShort(Int)
    case notHandshake
    case truncatedExtension(type: UInt16)
    case tooManyExtensions
    case streamIDTooLong(Int)

    public var description: String {
        switch self {
        case .tooShort(let n): "handshake of \(n) bytes (at least \(SRTHandshake.minimumSize))"
        case .notHandshake: "not a handshake control packet"
        case .truncatedExtension(let t): "extension \(t) runs past the end of the packet"
        case .tooManyExtensions: "more than \(SRTHandshake.maxExtensions) extensions"
        case .streamIDTooLong(let n): "stream id of \(n) bytes (at most \(SRTHandshake.maxStreamIDLength))"
        }
    }
}

/// An SRT handshake packet: header fields, the 48-byte handshake CIF and, for HSv5 conclusions,
/// the extensions (kept as raw contents, forwarded unchanged).
public struct SRTHandshake: Equatable, Sendable {
    public static let cifSize = 48
    public static let minimumSize = SRTPacket.headerSize + cifSize
    public static let maxExtensions = 32
    /// SRT's limit on the Stream ID.
    public static let maxStreamIDLength = 512
    /// The SRT magic code a listener puts in the extension field of its induction response.
    public static let magic: UInt16 = 0x4A17
    /// What a caller puts in the extension field of its (version 4) induction: UDT_DGRAM.
    public static let inductionExtensionField: UInt16 = 2

    /// The handshake type field. Values from 1000 on are rejections (1000 + reason).
    public enum Kind: Equatable, Sendable {
        case induction, conclusion, waveahand, agreement, done
        case rejection(UInt32)
        case other(UInt32)

        public init(rawValue: UInt32) {
            switch rawValue {
            case 1: self = .induction
            case 0xFFFF_FFFF: self = .conclusion
            case 0: self = .waveahand
            case 0xFFFF_FFFE: self = .agreement
            case 0xFFFF_FFFD: self = .done
            case 1000..<3000: self = .rejection(rawValue - 1000)
            default: self = .other(rawValue)
            }
        }

        public var rawValue: UInt32 {
            switch self {
            case .induction: 1
            case .conclusion: 0xFFFF_FFFF
            case .waveahand: 0
            case .agreement: 0xFFFF_FFFE
            case .done: 0xFFFF_FFFD
            case .rejection(let reason): 1000 + reason
            case .other(let v): v
            }
        }
    }

    /// Handshake extension types (SRT_CMD_*).
    public enum ExtensionType {
        public static let hsreq: UInt16 = 1, hsrsp: UInt16 = 2, kmreq: UInt16 = 3, kmrsp: UInt16 = 4
        public static let streamID: UInt16 = 5, congestion: UInt16 = 6, filter: UInt16 = 7, group: UInt16 = 8
    }

    /// Rejection reasons a listener sends in the handshake type (as 1000 + reason): libsrt's
    /// SRT_REJ_* (0-17) and the access-control SRT_REJX_* codes (1000 and up).
    public enum RejectReason {
        public static let peer: UInt32 = 2, resource: UInt32 = 3, rogue: UInt32 = 4, close: UInt32 = 7, version: UInt32 = 8, timeout: UInt32 = 16
        public static let badRequest: UInt32 = 1400, forbidden: UInt32 = 1403, notFound: UInt32 = 1404
        public static let overload: UInt32 = 1402, badGateway: UInt32 = 1502, serviceUnavailable: UInt32 = 1503
    }

    public struct Extension: Equatable, Sendable {
        public var type: UInt16
        /// The contents, a multiple of 4 bytes, as on the wire.
        public var content: [UInt8]
        public init(type: UInt16, content: [UInt8]) {
            self.type = type
            self.content = content
        }
    }

    /// Header word 1 (type-specific information; 0 in handshakes libsrt sends), kept as received.
    public var typeSpecific: UInt32 = 0
    public var timestamp: UInt32 = 0
    public var destinationSocketID: UInt32 = 0
    public var version: UInt32 = 5
    public var encryption: UInt16 = 0
    public var extensionField: UInt16 = 0
    public var initialSequence: UInt32 = 0
    public var mtu: UInt32 = 1500
    public var flowWindow: UInt32 = 8192
    public var kind: Kind = .induction
    public var socketID: UInt32 = 0
    public var cookie: UInt32 = 0
    /// 16 bytes; an IPv4 address is its 4 bytes in the first word, in the byte order libsrt writes.
    public var peerIP: [UInt8] = [UInt8](repeating: 0, count: 16)
    public var extensions: [Extension] = []

    public init() {}

    /// Parses a datagram that is an SRT handshake control packet.
    public init(parsing bytes: some RandomAccessCollection<UInt8>) throws(SRTHandshakeError) {
        let b = Array(bytes)
        guard b.count >= Self.minimumSize else { throw .tooShort(b.count) }
        guard b.be32(0) == 0x8000_0000 else { throw .notHandshake }
        typeSpecific = b.be32(4)
        timestamp = b.be32(8)
        destinationSocketID = b.be32(12)
        version = b.be32(16)
        encryption = b.be16(20)
        extensionField = b.be16(22)
        initialSequence = b.be32(24)
        mtu = b.be32(28)
        flowWindow = b.be32(32)
        kind = Kind(rawValue: b.be32(36))
        socketID = b.be32(40)
        cookie = b.be32(44)
        peerIP = Array(b[48..<64])
        var at = Self.minimumSize
        while at + 4 <= b.count {
            let type = b.be16(at)
            let words = Int(b.be16(at + 2))
            guard at + 4 + words * 4 <= b.count else { throw .truncatedExtension(type: type) }
            guard extensions.count < Self.maxExtensions else { throw .tooManyExtensions }
            extensions.append(Extension(type: type, content: Array(b[(at + 4)..<(at + 4 + words * 4)])))
            at += 4 + words * 4
        }
    }

    /// The packet as sent on the wire.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.minimumSize + extensions.reduce(0) { $0 + 4 + $1.content.count })
        out.appendBE32(0x8000_0000)
        out.appendBE32(typeSpecific)
        out.appendBE32(timestamp)
        out.appendBE32(destinationSocketID)
        out.appendBE32(version)
        out.appendBE16(encryption)
        out.appendBE16(extensionField)
        out.appendBE32(initialSequence)
        out.appendBE32(mtu)
        out.appendBE32(flowWindow)
        out.appendBE32(kind.rawValue)
        out.appendBE32(socketID)
        out.appendBE32(cookie)
        out += peerIP.count == 16 ? peerIP : Array((peerIP + [UInt8](repeating: 0, count: 16)).prefix(16))
        for ext in extensions {
            let words = (ext.content.count + 3) / 4
            out.appendBE16(ext.type)
            out.appendBE16(UInt16(truncatingIfNeeded: words))
            out += ext.content
            out += [UInt8](repeating: 0, count: words * 4 - ext.content.count)
        }
        return out
    }

    public func firstExtension(_ type: UInt16) -> Extension? { extensions.first { $0.type == type } }

    public func lastExtension(_ type: UInt16) -> Extension? { extensions.last { $0.type == type } }

    /// The Stream ID extension's text, or nil when there is none. Its 32-bit words are
    /// little-endian on the wire (each word's bytes reversed); trailing NULs are padding. A
    /// handshake with several is read as libsrt reads it, by the last one: the backend gets the
    /// handshake unchanged and must see the stream the proxy routed and authorised.
    public func streamID() throws(SRTHandshakeError) -> String? {
        guard let ext = lastExtension(ExtensionType.streamID) else { return nil }
        var text = Self.swapWords(ext.content)
        while text.last == 0 { text.removeLast() }
        guard text.count <= Self.maxStreamIDLength else { throw .streamIDTooLong(text.count) }
        return String(decoding: text, as: UTF8.self)
    }

    /// The Stream ID extension content for `text` (for tests and peers written in Swift).
    public static func streamIDExtension(_ text: String) -> Extension {
        var bytes = Array(text.utf8)
        bytes += [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
        return Extension(type: ExtensionType.streamID, content: swapWords(bytes))
    }

    /// Reverses the bytes of every 4-byte word (a trailing partial word is left as it is).
    static func swapWords(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        var i = 0
        while i + 4 <= out.count {
            out.swapAt(i, i + 3)
            out.swapAt(i + 1, i + 2)
            i += 4
        }
        return out
    }

    /// The peer IP field for an IPv4 address given as 4 bytes (network order), as libsrt writes
    /// it: the address as one host-order (little-endian) 32-bit word, then zeros.
    public static func peerIPField(ipv4 bytes: [UInt8]) -> [UInt8] {
        Array(bytes.reversed()) + [UInt8](repeating: 0, count: 12)
    }
}

extension Array where Element == UInt8 {
    func be32(_ at: Int) -> UInt32 {
        UInt32(self[at]) << 24 | UInt32(self[at + 1]) << 16 | UInt32(self[at + 2]) << 8 | UInt32(self[at + 3])
    }

    func be16(_ at: Int) -> UInt16 {
        UInt16(self[at]) << 8 | UInt16(self[at + 1])
    }

    mutating func appendBE32(_ v: UInt32) {
        append(UInt8(truncatingIfNeeded: v >> 24))
        append(UInt8(truncatingIfNeeded: v >> 16))
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v))
    }

    mutating func appendBE16(_ v: UInt16) {
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v))
    }
}
