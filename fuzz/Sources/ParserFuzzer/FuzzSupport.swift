// What every target file shares: the input after the selector byte, a reader that takes bytes
// off its front for the harness's choices, the invariant check, and a few fixtures.

import Dispatch
import Logging

@testable import ProxyCore

/// One fuzz input, without the byte that picked the target.
struct FuzzInput {
    let bytes: [UInt8]

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The text split at NUL into at most `count` fields (missing ones are empty).
    func fields(_ count: Int) -> [String] {
        var parts = text.split(separator: "\0", maxSplits: count - 1, omittingEmptySubsequences: false).map(String.init)
        while parts.count < count { parts.append("") }
        return parts
    }

    var reader: FuzzReader { FuzzReader(bytes) }
}

/// Takes the harness's choices (flags, split points, lengths) off the front of the input; the
/// rest is the data. An exhausted reader gives zeros, so every input is usable.
struct FuzzReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }
    var remaining: Int { max(0, bytes.count - offset) }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }

    /// A value in 0...bound, from one byte (scaled) so that small inputs reach every part.
    mutating func upTo(_ bound: Int) -> Int {
        guard bound > 0 else { return 0 }
        return Int(byte()) * (bound + 1) / 256
    }

    mutating func take(_ n: Int) -> [UInt8] {
        let n = min(max(0, n), remaining)
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    /// A length-prefixed field (one byte of length).
    mutating func field() -> [UInt8] { take(Int(byte())) }

    mutating func string() -> String { String(decoding: field(), as: UTF8.self) }

    mutating func rest() -> [UInt8] { take(remaining) }
}

/// Stops the fuzzer with the input saved when an invariant does not hold.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant: \(message())") }
}

/// What the router relies on in every key a parser gives it.
func checkKey(_ key: StreamKey) {
    check(!key.app.isEmpty && !key.stream.isEmpty && !key.vhost.isEmpty, "empty part in \(key)")
    check(key.description.utf8.count <= StreamKey.maxLength, "key over the limit: \(key.description.utf8.count) bytes")
    check(!key.stream.contains("/") && !key.vhost.contains("/"), "slash in stream or vhost: \(key)")
    check(!key.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }, "control character in \(key)")
    check((try? StreamKey(vhost: key.vhost, app: key.app, stream: key.stream)) == key, "key does not rebuild: \(key)")
}

/// A header or status line value a response may carry: no CR, LF, NUL or other control byte
/// but tab (RFC 9110 field-value), so no client input can add a header or end the head.
func isFieldValue(_ value: String) -> Bool {
    value.utf8.allSatisfy { $0 == 9 || ($0 >= 0x20 && $0 != 0x7F) }
}

let quietLogger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

/// One router over an empty in-memory registry (no backend): sessions are refused at routing.
let emptyRouter = Router(registry: MemoryRegistry(), strategy: RoundRobinStrategy())

/// Runs `body` on the concurrency pool and waits for it (the harness's thread is libFuzzer's,
/// not one of the pool's).
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

/// Written by the task before it signals, read after the wait: the semaphore orders the two.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

extension Array where Element == UInt8 {
    /// The bytes as hex, for invariant messages.
    var hex: String { map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
}
