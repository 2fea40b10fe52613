import Foundation
import Testing

@testable import Host

/// Thousands of corrupted variants of valid inputs (seeded, so a failure reproduces): every one
/// must end in a value or the parser's own typed error, never a crash or another error type.
@Suite struct MutatedInputTests {
    /// SplitMix64: a small deterministic generator.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    static let interesting: [[UInt8]] = [
        Array("\"".utf8), Array("{".utf8), Array("}".utf8), Array("[".utf8), Array(":".utf8), Array(",".utf8),
        Array("null".utf8), Array("true".utf8), Array("-1".utf8), Array("1e309".utf8), Array("\\u0000".utf8),
        [0], [0xff], [0xc3], Array("\n".utf8), Array("${".utf8), Array("&a".utf8), Array("*a".utf8), Array("!!binary".utf8),
        Array("- ".utf8), Array("? ".utf8), Array("  ".utf8), Array("99999999999999999999".utf8),
    ]

    static func mutate(_ input: [UInt8], _ rng: inout Generator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[at] = UInt8.random(in: 0...255, using: &rng)
            case 1 where !bytes.isEmpty: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...16, using: &rng)))
            case 2: bytes.insert(contentsOf: interesting.randomElement(using: &rng)!, at: at)
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, at + Int.random(in: 1...64, using: &rng))
                bytes.insert(contentsOf: bytes[at..<end], at: Int.random(in: 0...bytes.count, using: &rng))
            default: bytes = Array(bytes.prefix(at))
            }
        }
        return bytes
    }

    @Test func registerBodies() {
        var rng = Generator(state: 0x5eed_0001)
        let seeds = [
            #"{"device_id":"origin1","ip":"192.168.3.10","server":"vid-0xk9p3b","service":"8o1vc7t4","pid":"30105","summaries":{"ok":true,"self":{"version":"6.0.184"}},"rtmp":["1935"],"http":["8080"],"api":["1985"],"srt":["10080"],"rtc":["udp://8000"]}"#,
            #"{"ip":"10.78.122.184","server":"s","service":"v","pid":42,"rtmp":["tcp://[::1]:19352"],"rtc":["udp://0.0.0.0:8001"]}"#,
        ].map { Array($0.utf8) }
        var accepted = 0, refused = 0
        for i in 0..<4000 {
            let body = Self.mutate(seeds[i % seeds.count], &rng)
            do {
                let backend = try RegisterRequest.parse(Data(body))
                #expect(backend.exposes(.rtmp), "an accepted register always has an rtmp endpoint")
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
        var rng = Generator(state: 0x5eed_0002)
        let shipped = try String(contentsOf: URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("proxy.yaml"), encoding: .utf8)
        let seed = Array(shipped.utf8)
        var loaded = 0, refused = 0
        for _ in 0..<1500 {
            let text = String(decoding: Self.mutate(seed, &rng), as: UTF8.self)
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
