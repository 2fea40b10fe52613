/// `${VAR}` and `${VAR:-default}` in proxy.yaml values, expanded from the environment before
/// decoding (for secrets such as tokens and passwords). `$${` writes a literal `${`.
enum VariableExpansion {
    enum Failure: Error, Equatable {
        case unset(String)
        case unterminated
    }

    static func expand(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.contains("${") else { return text }
        var out = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            let before = rest[rest.startIndex..<start.lowerBound]
            if before.hasSuffix("$") {
                out += before.dropLast() + "${"
                rest = rest[start.upperBound...]
                continue
            }
            out += before
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else { throw .unterminated }
            let body = rest[start.upperBound..<end]
            let name: Substring
            let fallback: Substring?
            if let sep = body.range(of: ":-") {
                name = body[body.startIndex..<sep.lowerBound]
                fallback = body[sep.upperBound...]
            } else {
                name = body
                fallback = nil
            }
            if let value = environment[String(name)], !value.isEmpty {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                throw .unset(String(name))
            }
            rest = rest[rest.index(after: end)...]
        }
        return out + rest
    }
}
