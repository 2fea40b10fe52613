import Synchronization

/// A setting a configuration reload replaces while the proxy runs: readers take the value in
/// force when they start a piece of work (a request, a session, a check round), so work under
/// way finishes with the value it started with.
final class Live<Value: Sendable>: Sendable {
    private let box: Mutex<Value>

    init(_ value: Value) { box = Mutex(value) }

    var value: Value { box.withLock { $0 } }

    func set(_ value: Value) { box.withLock { $0 = value } }
}
