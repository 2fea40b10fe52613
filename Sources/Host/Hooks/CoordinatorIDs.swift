/// The coordinator's rule for channels, keys and streaming ids: letters, digits, `-` and `_`,
/// at most `maxLength` (its `ID_MAX_LENGTH`). Checked before any hook is called.
struct CoordinatorIDs: Sendable, Equatable {
    var maxLength: Int

    /// Why `id` is not one; nil when it is.
    func problem(_ id: String, _ what: String) -> String? {
        if id.isEmpty { return "the \(what) is empty" }
        if id.utf8.count > maxLength { return "the \(what) is longer than \(maxLength) characters" }
        let allowed = id.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
        }
        return allowed ? nil : "the \(what) may only hold letters, digits, '-' and '_'"
    }
}
