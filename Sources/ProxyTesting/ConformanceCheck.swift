/// One named check of a conformance suite, run against a subject (a registry, an event queue, ...)
/// that each implementation under test provides. Its name is the test case's argument.
public struct ConformanceCheck<Subject: Sendable>: Sendable, CustomStringConvertible {
    public var name: String
    public var run: @Sendable (Subject) async throws -> Void
    public var description: String { name }
}
