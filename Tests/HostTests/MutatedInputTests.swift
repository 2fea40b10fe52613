import Foundation
import ProxyTesting
import Testing

@testable import Host

/// Thousands of corrupted variants of valid inputs (seeded, so a failure reproduces): every one
/// must end in a value or the parser's own typed error, never a crash or another error type.
@Suite struct MutatedInputTests {
    static let interesting: [[UInt8]] = [
        Array("\"".utf8), Array("{".utf8), Array("}".utf8), Array("[".utf8), Array(":".utf8), Array(",".utf8),
        Array("null".utf8), Array("true".utf8), Array("-1".utf8), Array("1e309".utf8), Array("\\u0000".utf8),
        [0], [0xff], [0xc3], Array("\n".utf8), Array("${".utf8), Array("&a".utf8), Array("*a".utf8), Array("!!binary".utf8),
        Array("- ".utf8), Array("? ".utf8), Array("  ".utf8), Array("99999999999999999999".utf8),
    ]

    @Test func registerBodies() {
        var mutator = ByteMutator(seed: 0x5eed_0001, interesting: Self.interesting)
        let seeds = [
            #"{"device_id":"origin1","ip":"192.168.3.10","server":"vid-0xk9p3b","service":"8o1vc7t4","pid":"30105","summaries":{"ok":true,"self":{"version":"6.0.184"}},"rtmp":["1935"],"http":["8080"],"api":["1985"],"srt":["10080"],"rtc":["udp://8000"]}"#,
            #"{"ip":"10.78.122.184","server":"s","service":"v","pid":42,"rtmp":["tcp://[::1]:19352"],"rtc":["udp://0.0.0.0:8001"]}"#,
        ].map { Array($0.utf8) }
        var accepted = 0, refused = 0
        for i in 0..<4000 {
            let body = mutator.mutate(seeds[i % seeds.count])
            do {
                let backend = try RegisterRequest.parse(Data(body))
                let endpointCount = backend.endpoints.values.reduce(0) { $0 + $1.count }
                #expect(endpointCount > 0, "an accepted register always has an endpoint")
                #expect(RegisterRequest.isDialableHost(backend.ip))
                accepted += 1
            } catch {
                #expect(error.status == .badRequest)
                #expect(!error.message.isEmpty)
                refused += 1
            }
        }
        #expect(accepted > 100 && refused > 1000, "the mutations exercise both outcomes (\(accepted) accepted, \(refused) refused)")
    }

    @Test func configFiles() throws {
        var mutator = ByteMutator(seed: 0x5eed_0002, interesting: Self.interesting)
        let shipped = try String(contentsOf: URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("proxy.yaml"), encoding: .utf8)
        let seed = Array(shipped.utf8)
        var loaded = 0, refused = 0
        for _ in 0..<1500 {
            let text = String(decoding: mutator.mutate(seed), as: UTF8.self)
            do {
                _ = try ConfigLoader(file: "proxy.yaml", environment: [:]).load(yaml: text)
                loaded += 1
            } catch {
                #expect(error.description.hasPrefix("proxy.yaml"), "every error names the file: \(error)")
                #expect(!error.description.contains("\n"), "one line: \(error)")
                refused += 1
            }
        }
        #expect(loaded > 50 && refused > 200, "the mutations exercise both outcomes (\(loaded) loaded, \(refused) refused)")
    }
}
