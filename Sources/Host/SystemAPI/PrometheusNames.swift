/// Prometheus's rules for metric and label names, checked before a sample reaches the
/// exposition (PrometheusExposition), which would otherwise rewrite it.
enum PrometheusNames {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    static func isMetricName(_ s: String) -> Bool {
        isName(s, extra: ":")
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, and not starting with `__` (reserved).
    static func isLabelName(_ s: String) -> Bool {
        isName(s, extra: nil) && !s.hasPrefix("__")
    }

    private static func isName(_ s: String, extra: Character?) -> Bool {
        guard let first = s.first else { return false }
        func letter(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c == "_" || c == extra) }
        return letter(first) && s.allSatisfy { letter($0) || ($0.isASCII && $0.isNumber) }
    }
}
