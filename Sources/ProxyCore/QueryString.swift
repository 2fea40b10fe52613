/// Minimal, bounded access to `a=1&b=2` query strings: the proxy reads a few keys
/// (`vhost`, `app`, `stream`, `token`) and forwards the string itself unchanged.
public struct QueryString: Sendable, Hashable {
    public let raw: String

    public init(_ raw: String) {
        self.raw = raw.hasPrefix("?") ? String(raw.dropFirst()) : raw
    }

    /// The first value of `name`, percent-decoded; nil when absent.
    public func value(_ name: String) -> String? {
        for pair in raw.split(separator: "&", maxSplits: 256) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv[0] == name { return kv.count > 1 ? String(kv[1]).percentDecoded() : "" }
        }
        return nil
    }

    /// The `vhost=` parameter when present and not empty.
    public var vhost: String? {
        guard let v = value("vhost"), !v.isEmpty else { return nil }
        return v
    }

    /// Joins two query strings, skipping empty ones.
    public static func join(_ parts: String...) -> String {
        parts.filter { !$0.isEmpty }.joined(separator: "&")
    }
}

extension String {
    /// Decodes `%XX` escapes and `+` in a query value; invalid escapes are kept literally.
    public func percentDecoded(plusAsSpace: Bool = true) -> String {
        guard contains("%") || (plusAsSpace && contains("+")) else { return self }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var it = Array(utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%"), it.count >= 2, let hi = hexValue(it[it.startIndex]), let lo = hexValue(it[it.startIndex + 1]) {
                bytes.append(hi << 4 | lo)
                it = it.dropFirst(2)
            } else if plusAsSpace && b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
