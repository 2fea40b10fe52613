import ProxyNet

/// Writes samples in the Prometheus text exposition format, version 0.0.4: per metric family a
/// `# HELP` and a `# TYPE` line, then `name{label="value",...} value` lines. Families keep the
/// order in which their first sample came; samples whose metric or label names are not valid
/// Prometheus names, or whose kind differs from their family's, are left out (never a broken page).
enum PrometheusText {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func render(_ samples: [MetricSample], prefix: String = "") -> String {
        var order: [String] = []
        var families: [String: (help: String, kind: MetricSample.Kind, lines: [String])] = [:]
        for sample in samples {
            let name = prefix + sample.name
            guard isMetricName(name), sample.labels.allSatisfy({ isLabelName($0.name) }) else { continue }
            let line = name + labelSet(sample.labels) + " " + value(sample.value)
            if families[name] == nil {
                order.append(name)
                families[name] = (sample.help, sample.kind, [line])
            } else if families[name]!.kind == sample.kind {
                families[name]!.lines.append(line)
            }
        }
        var out = ""
        for name in order {
            let f = families[name]!
            out += "# HELP \(name) \(escapeHelp(f.help))\n# TYPE \(name) \(f.kind.rawValue)\n"
            for line in f.lines { out += line + "\n" }
        }
        return out
    }

    static func labelSet(_ labels: [MetricSample.Label]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.name)=\"\(escapeLabelValue($0.value))\"" }.joined(separator: ",") + "}"
    }

    /// Label values escape backslash, double quote and line feed.
    static func escapeLabelValue(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// HELP text escapes backslash and line feed only.
    static func escapeHelp(_ s: String) -> String {
        s.replacingAll("\\", with: "\\\\").replacingAll("\n", with: "\\n")
    }

    /// Integral values without a fraction (counters read better), others as Swift prints doubles;
    /// NaN and infinities as Prometheus spells them.
    static func value(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 9_007_199_254_740_992 { return String(Int64(v)) }
        return String(v)
    }

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

private extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
