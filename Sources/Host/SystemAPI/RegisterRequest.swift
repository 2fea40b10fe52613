import Foundation
import ProxyCore
import ProxyNet

/// The body of `POST /api/v1/srs/register`: what SRS 5+ heartbeats send with `ports on`
/// (`server`, `service`, `pid`, `ip`, `device_id` as strings; `rtmp`, `http`, `api`, `srt`, `rtc`
/// as arrays of endpoint strings such as `"1935"` or `"udp://0.0.0.0:8000"`; an optional
/// `summaries` object), and the manual form of SRS's proxy docs (the same fields), plus two
/// optional placement fields: `weight` (1-1000) and `capacity` (`{"streams": N, "sessions": M}`).
/// Numbers are accepted where strings are expected (a hand-written `"pid": 42`).
enum RegisterRequest {
    static let maxFieldLength = 256
    static let maxEndpoints = 32

    /// `maxSummaries`: the largest `summaries` object kept, serialized (`system_api.max_summaries_size`).
    static func parse(_ data: Data, maxSummaries: Int = 16 * 1024) throws(APIError) -> Backend {
        let fields = try APIError.jsonObject(data)

        let server = try string(fields, "server")
        let service = try string(fields, "service")
        let pid = try string(fields, "pid")
        // The address is text: a number would be dialled as whatever getaddrinfo makes of it.
        guard fields["ip"] == nil || fields["ip"] is NSNull || fields["ip"] is String else { throw APIError(.badRequest, "field 'ip': expected a string") }
        let ip = try string(fields, "ip")
        guard isDialableHost(ip) else { throw APIError(.badRequest, "field 'ip': '\(ip.prefix(64))' is not an IP address or host name the proxy can dial") }
        let deviceID = try optionalString(fields, "device_id")

        var endpoints: [EndpointKind: [ListenEndpoint]] = [:]
        for kind in EndpointKind.allCases {
            let list = try endpointList(fields, kind.rawValue)
            if !list.isEmpty { endpoints[kind] = list }
        }
        guard endpoints.values.contains(where: { !$0.isEmpty }) else { throw APIError(.badRequest, "no endpoints (give at least one of rtmp, http, api, srt, rtc)") }

        var placement = BackendPlacement()
        placement.weight = try integer(fields, "weight", in: 1...1000)
        if let capacity = fields["capacity"], !(capacity is NSNull) {
            guard let object = capacity as? [String: Any] else {
                throw APIError(.badRequest, "field 'capacity': expected an object such as {\"streams\": 100, \"sessions\": 5000}")
            }
            for name in object.keys where name != "streams" && name != "sessions" {
                throw APIError(.badRequest, "field 'capacity': unknown field '\(name.prefix(64))' (allowed: streams, sessions)")
            }
            placement.maxStreams = try integer(object, "streams", in: 0...10_000_000, field: "capacity.streams")
            placement.maxSessions = try integer(object, "sessions", in: 0...100_000_000, field: "capacity.sessions")
        }
        var summaries: String?
        if let s = fields["summaries"] as? [String: Any] { (placement.cpuPercent, placement.connections) = reportedLoad(s) }
        if let s = fields["summaries"], !(s is NSNull) {
            guard s is [String: Any], JSONSerialization.isValidJSONObject(s), let data = try? JSONSerialization.data(withJSONObject: s, options: [.sortedKeys]) else {
                throw APIError(.badRequest, "field 'summaries': expected a JSON object")
            }
            guard data.count <= maxSummaries else {
                throw APIError(.contentTooLarge, "field 'summaries': \(data.count) bytes, more than system_api.max_summaries_size (\(maxSummaries))")
            }
            summaries = String(decoding: data, as: UTF8.self)
        }
        var backend = Backend(
            server: server, service: service, pid: pid, ip: ip, deviceID: deviceID, endpoints: endpoints, summaries: summaries,
            placement: placement.isEmpty ? nil : placement)
        if let version = fields["proxy_protocol"], !(version is NSNull) {
            guard let name = version as? String, ProxyProtocolHeader.Version(rawValue: name) != nil else {
                throw APIError(.badRequest, "field 'proxy_protocol': expected \"off\", \"v1\" or \"v2\"")
            }
            backend.proxyProtocol = name
        }
        return backend
    }

    /// An optional whole number within `range` (`12` or `12.0`; not a string, not a boolean).
    private static func integer(_ fields: [String: Any], _ name: String, in range: ClosedRange<Int>, field: String? = nil) throws(APIError) -> Int? {
        guard let value = fields[name], !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber, !n.isBoolean, n.doubleValue.rounded() == n.doubleValue, let i = Int(exactly: n.doubleValue), range.contains(i) else {
            throw APIError(.badRequest, "field '\(field ?? name)': expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return i
    }

    /// What SRS's summaries (`srs_api_dump_summaries`: `{"data": {"system": {...}}}`) say of the
    /// origin's load: the system's CPU use in percent (SRS sends a fraction) and its connections
    /// (`conn_srs`). Anything else, or nothing, is no figure.
    static func reportedLoad(_ summaries: [String: Any]) -> (cpuPercent: Double?, connections: Int?) {
        let data = summaries["data"] as? [String: Any] ?? summaries
        guard let system = data["system"] as? [String: Any] else { return (nil, nil) }
        func number(_ name: String) -> Double? {
            guard let n = system[name] as? NSNumber, !n.isBoolean, n.doubleValue.isFinite, n.doubleValue >= 0 else { return nil }
            return n.doubleValue
        }
        let cpu = number("cpu_percent").map { ($0 * 100 * 10).rounded() / 10 }
        let connections = number("conn_srs").flatMap { $0 <= 1e12 ? Int($0) : nil }
        return (cpu, connections)
    }

    private static func string(_ fields: [String: Any], _ name: String) throws(APIError) -> String {
        guard let value = try optionalString(fields, name), !value.isEmpty else {
            throw APIError(.badRequest, "missing field '\(name)'")
        }
        return value
    }

    private static func optionalString(_ fields: [String: Any], _ name: String) throws(APIError) -> String? {
        let value: String
        switch fields[name] {
        case .none, is NSNull: return nil
        case let s as String: value = s.trimmingCharacters(in: .whitespaces)
        case let n as NSNumber where !n.isBoolean: value = n.jsonText
        default: throw APIError(.badRequest, "field '\(name)': expected a string")
        }
        guard value.utf8.count <= maxFieldLength else { throw APIError(.badRequest, "field '\(name)': longer than \(maxFieldLength) bytes") }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 }) else { throw APIError(.badRequest, "field '\(name)': control characters") }
        return value
    }

    private static func endpointList(_ fields: [String: Any], _ name: String) throws(APIError) -> [ListenEndpoint] {
        let items: [Any]
        switch fields[name] {
        case .none, is NSNull: return []
        case let list as [Any]: items = list
        case let single as String: items = [single]
        case let n as NSNumber: items = [n]
        default: throw APIError(.badRequest, "field '\(name)': expected an array of endpoints such as [\"1935\"]")
        }
        guard items.count <= maxEndpoints else { throw APIError(.badRequest, "field '\(name)': more than \(maxEndpoints) endpoints") }
        var result: [ListenEndpoint] = []
        for item in items {
            let text: String
            switch item {
            case let s as String: text = s
            case let n as NSNumber where !n.isBoolean: text = n.jsonText
            default: throw APIError(.badRequest, "field '\(name)': expected endpoint strings such as \"1935\" or \"udp://0.0.0.0:8000\"")
            }
            let endpoint: ListenEndpoint
            do {
                endpoint = try ListenEndpoint(parsing: text)
            } catch {
                throw APIError(.badRequest, "field '\(name)': \(error)")
            }
            guard endpoint.port > 0 else { throw APIError(.badRequest, "field '\(name)': port 0 in '\(text)' cannot be dialled") }
            result.append(endpoint)
        }
        return result
    }

    /// A host name or IP literal that is not a wildcard (`0.0.0.0`, `::`, `*` name no machine to dial).
    static func isDialableHost(_ text: String) -> Bool {
        guard !["0.0.0.0", "::", "*", ""].contains(text) else { return false }
        return (try? ListenEndpoint(parsing: text.contains(":") ? "[\(text)]:1" : "\(text):1")) != nil
    }
}

extension NSNumber {
    /// The number as JSON means it: `612.0` is the integer 612 (JSON Schema's reading too).
    fileprivate var jsonText: String {
        let d = doubleValue
        if d.rounded() == d, abs(d) < 9.0e15 { return String(Int64(d)) }
        return stringValue
    }

    /// JSON `true`/`false` arrive as NSNumber too; their type encoding is char or C bool.
    var isBoolean: Bool {
        let type = String(cString: objCType)
        return type == "c" || type == "B"
    }
}
