/// What a session does with its stream.
public enum SessionRole: String, Sendable, Codable, CaseIterable {
    case publish, play
}
