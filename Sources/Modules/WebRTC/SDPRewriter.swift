/// The SDP edits that keep every WebRTC packet on the proxy (no NIO, so fuzz/run compiles it).
///
/// - Offers (client -> backend): every `a=candidate` line is removed, and `a=end-of-candidates`
///   with them. An origin running full ICE (aiortc) would otherwise send checks straight to the
///   client's addresses; without them it learns the proxy's backend-side socket from the relayed
///   checks (a peer-reflexive candidate). The end-of-candidates mark must go too: told "no
///   candidates, and no more will come", aiortc fails its ICE agent and answers without any
///   candidate of its own; without it, it waits and pairs with the checks as they arrive.
/// - Answers (backend -> client): every UDP candidate that points at the backend is rewritten to
///   the proxy's public address and UDP port, the others (TCP, other addresses, relays the proxy
///   cannot reach) are dropped; `m=` ports and `c=` lines are set to match. The port of the first
///   rewritten candidate is the backend's UDP port for the session (aiortc: one per session,
///   SRS: its fixed rtc port).
public enum SDPRewriter {
    public static let maxSize = 64 * 1024

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case notSDP
        case missingICEUfrag
        case tooLarge
        case noUsableCandidate

        public var description: String {
            switch self {
            case .notSDP: "the body is not an SDP session description (it must start with v=0)"
            case .missingICEUfrag: "the SDP has no a=ice-ufrag line"
            case .tooLarge: "the SDP is larger than \(SDPRewriter.maxSize) bytes"
            case .noUsableCandidate: "the backend's answer has no UDP ICE candidate the proxy can relay"
            }
        }
    }

    /// An offer checked and stripped of its candidates.
    public struct Offer: Equatable, Sendable {
        public var sdp: String
        /// The client's ice-ufrag (the part after `:` in its STUN USERNAME).
        public var ufrag: String
        public var removedCandidates: Int
    }

    /// An answer rewritten to point at the proxy.
    public struct Answer: Equatable, Sendable {
        public var sdp: String
        /// The backend's ice-ufrag: the part before `:` in the client's STUN USERNAME.
        public var ufrag: String
        /// The UDP port of the backend's first relayable candidate.
        public var backendPort: Int
        public var rewrittenCandidates: Int
        public var droppedCandidates: Int
    }

    /// Where the rewritten candidates point.
    public struct ProxyAddress: Equatable, Sendable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// The backend's addresses as the answer may name them: its registered ip and rtc hosts, and
    /// its registered rtc ports (a candidate on one of those ports is the backend's even when it
    /// names a public address the proxy does not know, as SRS's `candidate` setting may).
    public struct BackendAddresses: Equatable, Sendable {
        public var hosts: Set<String>
        public var ports: Set<Int>
        public init(hosts: Set<String>, ports: Set<Int>) {
            self.hosts = hosts
            self.ports = ports
        }
    }

    /// Checks an offer and removes its ICE candidates.
    public static func offer(_ text: String) throws(Failure) -> Offer {
        guard text.utf8.count <= maxSize else { throw .tooLarge }
        let lines = splitLines(text)
        guard let first = lines.first(where: { !$0.isEmpty }), first == "v=0" else { throw .notSDP }
        var out: [Substring] = []
        out.reserveCapacity(lines.count)
        var ufrag: String?
        var removed = 0
        for line in lines {
            if line.hasPrefix("a=candidate:") {
                removed += 1
                continue
            }
            if line == "a=end-of-candidates" { continue }
            if ufrag == nil, line.hasPrefix("a=ice-ufrag:") { ufrag = String(line.dropFirst("a=ice-ufrag:".count)) }
            out.append(line)
        }
        guard let ufrag, isICEChars(ufrag) else { throw .missingICEUfrag }
        return Offer(sdp: join(out), ufrag: ufrag, removedCandidates: removed)
    }

    /// Removes candidates from a trickle-ICE fragment (`application/trickle-ice-sdpfrag`, a PATCH
    /// body); its end-of-candidates mark stays (the backend has its peer-reflexive candidate by then).
    public static func stripCandidates(_ text: String) -> String {
        join(splitLines(text).filter { !$0.hasPrefix("a=candidate:") })
    }

    /// Rewrites a backend's answer to point at `proxy`.
    public static func answer(_ text: String, backend: BackendAddresses, proxy: ProxyAddress) throws(Failure) -> Answer {
        guard text.utf8.count <= maxSize else { throw .tooLarge }
        let lines = splitLines(text)
        guard let first = lines.first(where: { !$0.isEmpty }), first == "v=0" else { throw .notSDP }
        var out: [String] = []
        out.reserveCapacity(lines.count)
        var ufrag: String?
        var backendPort: Int?
        var rewritten = 0, dropped = 0
        var componentsInSection: Set<String> = []
        let family = proxy.host.contains(":") ? "IP6" : "IP4"
        for line in lines {
            if line.hasPrefix("a=candidate:") {
                guard let candidate = Candidate(line), candidate.transport == "udp",
                    backend.hosts.contains(candidate.address) || backend.ports.contains(candidate.port)
                else {
                    dropped += 1
                    continue
                }
                if backendPort == nil { backendPort = candidate.port }
                // Several candidates of the backend become one per component and section.
                guard componentsInSection.insert(String(candidate.component)).inserted else {
                    dropped += 1
                    continue
                }
                rewritten += 1
                out.append(candidate.rewritten(host: proxy.host, port: proxy.port))
                continue
            }
            if line.hasPrefix("m=") {
                componentsInSection = []
                var parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                if parts.count > 1, parts[1] != "0" { parts[1] = String(proxy.port) }  // port 0 = rejected section
                out.append(parts.joined(separator: " "))
                continue
            }
            if line.hasPrefix("c=IN ") {
                out.append("c=IN \(family) \(proxy.host)")
                continue
            }
            if line.hasPrefix("a=rtcp:") {
                // a=rtcp:<port> [IN IP4 <addr>]: rtcp-mux, so RTCP shares the proxy port.
                out.append("a=rtcp:\(proxy.port) IN \(family) \(proxy.host)")
                continue
            }
            if ufrag == nil, line.hasPrefix("a=ice-ufrag:") { ufrag = String(line.dropFirst("a=ice-ufrag:".count)) }
            out.append(String(line))
        }
        guard let ufrag, isICEChars(ufrag) else { throw .missingICEUfrag }
        guard let backendPort, rewritten > 0 else { throw .noUsableCandidate }
        return Answer(sdp: out.joined(separator: "\r\n") + "\r\n", ufrag: ufrag, backendPort: backendPort, rewrittenCandidates: rewritten, droppedCandidates: dropped)
    }

    /// ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839), 4 to 256 of them.
    static func isICEChars(_ s: String) -> Bool {
        (4...256).contains(s.utf8.count) && s.utf8.allSatisfy { isAlnum($0) || $0 == 0x2B || $0 == 0x2F }
    }

    static func isAlnum(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }

    private static func splitLines(_ text: String) -> [Substring] {
        // "\r\n" is one Character in Swift: split on any line break (CRLF, LF or CR).
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" })
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        return lines
    }

    private static func join(_ lines: [Substring]) -> String { lines.joined(separator: "\r\n") + "\r\n" }
}

/// `a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> [...]`.
struct Candidate {
    var fields: [Substring]

    init?(_ line: Substring) {
        let f = line.dropFirst("a=candidate:".count).split(separator: " ")
        guard f.count >= 8, f[6] == "typ", Int(f[5]).map({ (1...65535).contains($0) }) == true else { return nil }
        fields = f
    }

    var component: Substring { fields[1] }
    var transport: String { fields[2].lowercased() }
    var address: String { String(fields[4]) }
    var port: Int { Int(fields[5])! }

    /// The same candidate as a host candidate on the proxy (raddr/rport dropped: they would name the backend).
    func rewritten(host: String, port: Int) -> String {
        var f = Array(fields.prefix(8)).map(String.init)
        f[4] = host
        f[5] = String(port)
        f[7] = "host"
        var i = 8
        while i + 1 < fields.count {
            let name = fields[i]
            if name != "raddr" && name != "rport" { f.append(String(name)); f.append(String(fields[i + 1])) }
            i += 2
        }
        return "a=candidate:" + f.joined(separator: " ")
    }
}
