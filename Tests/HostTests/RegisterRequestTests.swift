import Foundation
import ProxyCore
import Testing

@testable import Host

@Suite struct RegisterRequestTests {
    func parse(_ json: String) throws(APIError) -> Backend {
        try RegisterRequest.parse(Data(json.utf8))
    }

    func refusal(_ json: String) -> String {
        do {
            _ = try parse(json)
            return "accepted"
        } catch {
            #expect(error.status == .badRequest)
            return error.message
        }
    }

    /// What SRS 5+ sends with `heartbeat { ports on; summaries on; }`.
    static let srsHeartbeat = """
        {"device_id":"origin1","ip":"192.168.3.10","server":"vid-0xk9p3b","service":"8o1vc7t4","pid":"30105",
         "summaries":{"ok":true,"self":{"version":"6.0.184","pid":30105},"system":{"cpu_percent":0.02}},
         "rtmp":["1935"],"http":["8080"],"api":["1985"],"srt":["10080"],"rtc":["udp://8000"]}
        """

    @Test func acceptsWhatSRSHeartbeatsSend() throws {
        let b = try parse(Self.srsHeartbeat)
        #expect(b.id == Backend.ID("vid-0xk9p3b-8o1vc7t4-30105"))
        #expect(b.ip == "192.168.3.10" && b.deviceID == "origin1")
        #expect(b.address(for: .rtmp) == BackendAddress(host: "192.168.3.10", port: 1935))
        #expect(b.address(for: .http)?.port == 8080 && b.address(for: .api)?.port == 1985)
        #expect(b.address(for: .srt)?.port == 10080)
        #expect(b.endpoints[.rtc] == [ListenEndpoint(transport: .udp, port: 8000)])
        #expect(b.summaries?.contains("\"cpu_percent\":0.02") == true)
    }

    @Test func readsWeightCapacityAndTheLoadSRSSummariesReport() throws {
        let backend = try parse(#"""
            {"server":"s","service":"v","pid":"1","ip":"10.0.0.1","rtmp":["1935"],"weight":3,"capacity":{"streams":100,"sessions":5000},
             "summaries":{"code":0,"data":{"ok":true,"system":{"cpu_percent":0.4567,"conn_srs":42}}}}
            """#)
        #expect(backend.placement == BackendPlacement(weight: 3, maxStreams: 100, maxSessions: 5000, cpuPercent: 45.7, connections: 42))
        let plain = try parse(#"{"server":"s","service":"v","pid":"1","ip":"10.0.0.1","rtmp":["1935"],"summaries":{"ok":true}}"#)
        #expect(plain.placement == nil, "nothing registered, nothing reported")
        let bare = try parse(#"{"server":"s","service":"v","pid":"1","ip":"10.0.0.1","rtmp":["1935"],"summaries":{"system":{"cpu_percent":1.5}}}"#)
        #expect(bare.placement?.cpuPercent == 150, "summaries without the data wrapper; several cores' worth")
    }

    @Test(arguments: [
        (#""weight":0"#, "field 'weight': expected a whole number from 1 to 1000"),
        (#""weight":1.5"#, "field 'weight': expected a whole number from 1 to 1000"),
        (#""weight":"2""#, "field 'weight': expected a whole number from 1 to 1000"),
        (#""weight":true"#, "field 'weight': expected a whole number from 1 to 1000"),
        (#""capacity":5"#, "field 'capacity': expected an object"),
        (#""capacity":{"streams":-1}"#, "field 'capacity.streams': expected a whole number from 0 to 10000000"),
        (#""capacity":{"bitrate":1}"#, "field 'capacity': unknown field 'bitrate' (allowed: streams, sessions)"),
    ])
    func refusesBadPlacementFields(field: String, message: String) {
        #expect(refusal(#"{"server":"s","service":"v","pid":"1","ip":"10.0.0.1","rtmp":["1935"],\#(field)}"#).contains(message))
    }

    @Test func acceptsTheManualFormOfSRSProxyDocs() throws {
        let b = try parse("""
            {"device_id":"origin2","ip":"10.78.122.184","server":"vid-46p14mm","service":"z2s3w865","pid":"42583",
             "rtmp":["19352"],"http":["8082"],"api":["19853"],"srt":["10082"],"rtc":["udp://0.0.0.0:8001"]}
            """)
        #expect(b.address(for: .rtc) == BackendAddress(host: "10.78.122.184", port: 8001), "a wildcard host dials the backend's ip")
        #expect(b.address(for: .api)?.port == 19853)
    }

    @Test func acceptsMinimalAndLenientForms() throws {
        let b = try parse(#"{"ip":"127.0.0.1","server":"s","service":"v","pid":42,"rtmp":1935}"#)
        #expect(b.pid == "42" && b.address(for: .rtmp)?.port == 1935)
        #expect(!b.exposes(.http) && b.deviceID == nil && b.summaries == nil)
        let c = try parse(#"{"ip":"::1","server":"s","service":"v","pid":"1","rtmp":["tcp://127.0.0.2:1935"],"http":[]}"#)
        #expect(c.address(for: .rtmp) == BackendAddress(host: "127.0.0.2", port: 1935), "an endpoint's own host wins")
        #expect(!c.exposes(.http))
    }

    @Test(arguments: [
        (#"{"#, "malformed JSON body"),
        (#"[1,2]"#, "expected a JSON object"),
        (#"{"server":"s","service":"v","pid":"1","rtmp":["1935"]}"#, "missing field 'ip'"),
        (#"{"ip":"1.2.3.4","service":"v","pid":"1","rtmp":["1935"]}"#, "missing field 'server'"),
        (#"{"ip":"1.2.3.4","server":"s","pid":"1","rtmp":["1935"]}"#, "missing field 'service'"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","rtmp":["1935"]}"#, "missing field 'pid'"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1"}"#, "no endpoints (give at least one of rtmp, http, api, srt, rtc)"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1","rtmp":[]}"#, "no endpoints (give at least one of rtmp, http, api, srt, rtc)"),
        (#"{"ip":"","server":"s","service":"v","pid":"1","rtmp":["1935"]}"#, "missing field 'ip'"),
        (#"{"ip":"1.2.3.4","server":{},"service":"v","pid":"1","rtmp":["1935"]}"#, "field 'server': expected a string"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":true,"rtmp":["1935"]}"#, "field 'pid': expected a string"),
        (#"{"ip":"not an ip!","server":"s","service":"v","pid":"1","rtmp":["1935"]}"#, "field 'ip': 'not an ip!' is not an IP address or host name"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1","rtmp":["x:y"]}"#, "field 'rtmp': invalid endpoint 'x:y': port must be a number from 0 to 65535"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1","rtmp":["70000"]}"#, "field 'rtmp': invalid endpoint '70000'"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1","rtmp":["0"]}"#, "field 'rtmp': port 0 in '0' cannot be dialled"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1","rtmp":["1935"],"http":{"a":1}}"#, "field 'http': expected an array of endpoints"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1","rtmp":["1935"],"srt":[true]}"#, "field 'srt': expected endpoint strings"),
        (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1","rtmp":["1935"],"summaries":"x"}"#, "field 'summaries': expected a JSON object"),
        (#"{"ip":"1.2.3.4","server":"s\u0001","service":"v","pid":"1","rtmp":["1935"]}"#, "field 'server': control characters"),
    ])
    func refusesBadRegistrationsNamingTheField(json: String, expected: String) {
        let message = refusal(json)
        #expect(message.hasPrefix(expected), "got: \(message)")
    }

    @Test func boundsFieldsAndLists() {
        let long = String(repeating: "a", count: 300)
        #expect(refusal(#"{"ip":"1.2.3.4","server":"\#(long)","service":"v","pid":"1","rtmp":["1935"]}"#) == "field 'server': longer than 256 bytes")
        let many = (0..<40).map { "\"\(1000 + $0)\"" }.joined(separator: ",")
        #expect(refusal(#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1","rtmp":[\#(many)]}"#) == "field 'rtmp': more than 32 endpoints")
    }
}
