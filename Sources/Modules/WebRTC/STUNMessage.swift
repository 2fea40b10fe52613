/// What the proxy reads from STUN (RFC 8489): from a datagram of an unknown client, the USERNAME
/// of a Binding Request, whose part before `:` is the ufrag the backend answered; for a client
/// with several addresses, transaction ids, responses and USE-CANDIDATE. No NIO, no allocation
/// until a USERNAME is found (fuzz/run compiles it).
public enum STUNMessage {
    public static let magicCookie: UInt32 = 0x2112_A442
    public static let headerSize = 20
    static let bindingRequest: UInt16 = 0x0001
    static let usernameAttribute: UInt16 = 0x0006
    static let useCandidateAttribute: UInt16 = 0x0025
    static let bindingSuccess: UInt16 = 0x0101
    static let bindingError: UInt16 = 0x0111
    /// RFC 8489 limits USERNAME to 513 bytes.
    static let maxUsername = 513

    public enum Verdict: Equatable {
        /// A Binding Request whose USERNAME has a `:` (ICE's `remote:local` form).
        case binding(ufrag: String, username: String)
        /// Not a STUN message at all (DTLS, RTP, noise): first bits, cookie or length do not fit.
        case notSTUN
        /// STUN, but with a bad length, an attribute past the end, or no usable USERNAME.
        case malformed(String)
        /// A well-formed STUN message that is not a Binding Request (a response, an indication).
        case otherSTUN
    }

    /// Whether the bytes look like STUN at all (RFC 7983 demultiplexing: first byte 0...3).
    public static func looksLikeSTUN(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= headerSize && bytes[0] <= 3 && readUInt32(bytes, 4) == magicCookie
    }

    public static func inspect(_ bytes: UnsafeRawBufferPointer) -> Verdict {
        guard looksLikeSTUN(bytes) else { return .notSTUN }
        let type = readUInt16(bytes, 0)
        let length = Int(readUInt16(bytes, 2))
        guard length % 4 == 0, headerSize + length == bytes.count else { return .malformed("message length \(length) does not match the datagram (\(bytes.count) bytes)") }
        guard type == bindingRequest else { return .otherSTUN }
        var at = headerSize
        while at + 4 <= bytes.count {
            let attribute = readUInt16(bytes, at)
            let size = Int(readUInt16(bytes, at + 2))
            let valueStart = at + 4
            guard valueStart + size <= bytes.count else { return .malformed("attribute 0x\(String(attribute, radix: 16)) runs past the message") }
            if attribute == usernameAttribute {
                guard size > 0, size <= maxUsername else { return .malformed("USERNAME of \(size) bytes") }
                let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<(valueStart + size)])
                guard let colon = value.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return .malformed("USERNAME without ':'") }
                guard let username = String(validating: value, as: UTF8.self) else { return .malformed("USERNAME is not UTF-8") }
                let ufrag = String(decoding: UnsafeRawBufferPointer(rebasing: value[0..<colon]), as: UTF8.self)
                return .binding(ufrag: ufrag, username: username)
            }
            at = valueStart + (size + 3) & ~3
        }
        return .malformed("Binding Request without USERNAME")
    }

    /// The 96-bit transaction id of a message (bytes 8..<20), as integers.
    public struct TransactionID: Hashable, Sendable {
        public var high: UInt64
        public var low: UInt32
    }

    /// The transaction id of bytes that `looksLikeSTUN`.
    public static func transactionID(_ bytes: UnsafeRawBufferPointer) -> TransactionID {
        TransactionID(high: UInt64(readUInt32(bytes, 8)) << 32 | UInt64(readUInt32(bytes, 12)), low: readUInt32(bytes, 16))
    }

    /// Whether the bytes are a Binding success or error response (the answer to a check).
    public static func isBindingResponse(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard looksLikeSTUN(bytes) else { return false }
        let type = readUInt16(bytes, 0)
        return type == bindingSuccess || type == bindingError
    }

    /// Whether the bytes are a Binding success response (the backend accepted a check).
    public static func isBindingSuccess(_ bytes: UnsafeRawBufferPointer) -> Bool {
        looksLikeSTUN(bytes) && readUInt16(bytes, 0) == bindingSuccess
    }

    /// Whether the bytes are a Binding Request (well-formed length or not: only the header is read).
    public static func isBindingRequest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        looksLikeSTUN(bytes) && readUInt16(bytes, 0) == bindingRequest
    }

    /// Whether a Binding Request carries USE-CANDIDATE (ICE nomination, RFC 8445 7.1.2): the
    /// controlling agent picked this pair. Attributes are walked within the datagram only.
    public static func hasUseCandidate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard isBindingRequest(bytes) else { return false }
        let end = min(bytes.count, headerSize + Int(readUInt16(bytes, 2)))
        var at = headerSize
        while at + 4 <= end {
            if readUInt16(bytes, at) == useCandidateAttribute { return true }
            at += 4 + (Int(readUInt16(bytes, at + 2)) + 3) & ~3
        }
        return false
    }

    public static func inspect(_ bytes: [UInt8]) -> Verdict {
        bytes.withUnsafeBytes { inspect($0) }
    }

    /// A Binding Request with `username` (and PRIORITY, and USE-CANDIDATE when `nominate`), for
    /// tests and the benchmark's load generator.
    public static func bindingRequest(username: String, transactionID: [UInt8] = Array(repeating: 7, count: 12), nominate: Bool = false) -> [UInt8] {
        precondition(transactionID.count == 12)
        var attrs: [UInt8] = []
        func attribute(_ type: UInt16, _ value: [UInt8]) {
            attrs += [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(value.count >> 8), UInt8(value.count & 0xFF)] + value
            attrs += Array(repeating: 0, count: (4 - value.count % 4) % 4)
        }
        attribute(usernameAttribute, Array(username.utf8))
        attribute(0x0024, [0x6E, 0x00, 0x1E, 0xFF])  // PRIORITY
        if nominate { attribute(useCandidateAttribute, []) }
        let length = attrs.count
        return [0x00, 0x01, UInt8(length >> 8), UInt8(length & 0xFF), 0x21, 0x12, 0xA4, 0x42] + transactionID + attrs
    }

    @inline(__always) static func readUInt16(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt16 {
        UInt16(b[at]) << 8 | UInt16(b[at + 1])
    }

    @inline(__always) static func readUInt32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }
}
