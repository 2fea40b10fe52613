import Foundation
import ProxyTesting
import Testing

/// `log.format: json`: every line the proxy prints during a whole publish and play through a
/// real origin (nginx-rtmp, ffmpeg) is one JSON object with the fixed fields and the metadata.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct LogFormatTests {
    @Test func everyLineOfAPublishAndPlayIsOneJSONObject() async throws {
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 127.0.0.1:0 }
            log: { format: json, level: debug }
            modules:
              rtmp: { listen: 127.0.0.1:0 }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            """)
        let origin = try await NginxRTMP.start(applications: ["live"])
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: origin.registration(server: "o"))
        #expect(r.status == 200, "\(r.text)")
        let port = Int(try await proxy.waitForListener("rtmp").split(separator: ":").last!)!
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/json-log", seconds: 4)
        try await Wait.until("the stream on the origin", timeout: .seconds(15)) { origin.published == ["json-log"] ? true : nil }
        let player = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/json-log")
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "\(publisher.output)")
        try await player.wait(timeout: .seconds(20))
        #expect(MediaTools.timestamps(player.output).count > 20, "the player got the stream: \(player.output.suffix(300))")
        #expect(try await proxy.stop() == 0)

        let lines = proxy.log.split(separator: "\n")
        #expect(lines.count > 10, "\(proxy.log)")
        var messages: [String] = []
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let object else {
                Issue.record("not one JSON object: \(line)")
                continue
            }
            for field in ["time", "level", "logger", "message", "source"] {
                #expect(object[field] is String, "\(field) in \(line)")
            }
            #expect((object["time"] as? String)?.hasSuffix("Z") == true, "UTC time: \(line)")
            messages.append(object["message"] as? String ?? "")
        }
        let relayed = proxy.logEntries("\"message\":\"stream relayed\"")
        #expect(relayed.contains { $0["stream"]?.hasSuffix("live/json-log") == true && $0["logger"] == "proxy.rtmp" }, "metadata as fields: \(relayed)")
        let request = proxy.logEntries("\"message\":\"request\"", "/api/v1/srs/register")
        #expect(request.first?["status"] == "200" && request.first?["method"] == "POST", "\(request)")
        #expect(lines.contains { $0.contains(#""level":"debug""#) }, "log.level: debug applies")
        #expect(messages.contains("stopped"), "\(messages.suffix(5))")
        withExtendedLifetime(origin) {}
    }
}
