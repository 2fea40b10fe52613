import Foundation
import ProxyCore
import Yams

/// Everything proxy.yaml (plus the environment) configures, validated.
struct LoadedConfig: Sendable {
    var file: String
    var proxy: ProxyConfig
    /// One entry per catalog module, in catalog order, with its decoded config.
    var modules: [PreparedModule]
    /// Each module's section as read (canonical YAML, "" when absent): a reload compares them.
    var moduleSections: [String: String] = [:]
}

/// Reads proxy.yaml strictly: YAML syntax, duplicate keys, `${VAR}` expansion, SRS's PROXY_*
/// environment overrides, then Codable decoding of the host's keys and of each module's section.
/// Every failure is one ConfigError naming file, line, key and what is allowed.
struct ConfigLoader {
    var file: String
    var environment: [String: String]
    var catalog: [ModuleCatalog.Entry] = ModuleCatalog.entries

    /// Where each environment-set key came from (dotted path -> variable).
    private var envSources: [String: String] = [:]
    /// Keys an environment variable overrides: their yaml values are not expanded (nor needed).
    private var overridden: Set<String> = []

    init(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.file = file
        self.environment = environment
    }

    func load() throws(ConfigError) -> LoadedConfig {
        let text: String
        guard FileManager.default.fileExists(atPath: file) else {
            throw ConfigError(location: file, key: "", message: "no such file (pass --config FILE)")
        }
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigError(location: file, key: "", message: "cannot read the configuration file: \((error as NSError).localizedDescription)")
        }
        return try load(yaml: text)
    }

    func load(yaml text: String) throws(ConfigError) -> LoadedConfig {
        var loader = self
        let root = try loader.prepareTree(text)
        let proxy: ProxyConfig = try loader.decode(ProxyConfig.self, from: root, at: [])
        let modulesNode = root.mapping?["modules"]
        let sections: Node.Mapping
        switch modulesNode {
        case .none: sections = Node.Mapping([])
        case .some(let n) where n.mapping != nil: sections = n.mapping!
        case .some(let n) where Self.isNull(n): sections = Node.Mapping([])
        case .some(let n): throw loader.error(at: ["modules"], in: root, n.mark, "expected a mapping of module names")
        }
        let names = catalog.map(\.name)
        for (key, _) in sections where !names.contains(key.string ?? "") {
            throw ConfigError(
                location: loader.location(key.mark, path: ["modules", key.string ?? ""]), key: "modules.\(key.string ?? "?")",
                message: "unknown module '\(key.string ?? "?")' (allowed: \(names.joined(separator: ", ")))")
        }
        var modules: [PreparedModule] = []
        for entry in catalog {
            modules.append(try loader.prepareModule(entry, section: sections[entry.name], root: root))
        }
        var moduleSections: [String: String] = [:]
        for entry in catalog {
            moduleSections[entry.name] = sections[entry.name].flatMap { try? Yams.serialize(node: $0) } ?? ""
        }
        return LoadedConfig(file: file, proxy: proxy, modules: modules, moduleSections: moduleSections)
    }

    // MARK: - Tree preparation

    private mutating func prepareTree(_ text: String) throws(ConfigError) -> Node {
        var root: Node
        do {
            root = try Yams.compose(yaml: text) ?? Node.mapping(Node.Mapping([]))
        } catch {
            throw Self.syntaxError(file: file, "\(error)")
        }
        if root.scalar?.string == "" { root = .mapping(Node.Mapping([])) }
        guard root.mapping != nil else {
            throw ConfigError(location: location(root.mark, path: []), key: "", message: "expected a mapping of settings at the top level")
        }
        let set = EnvironmentOverrides.table.filter { !(environment[$0.variable] ?? "").isEmpty }
        let implied = EnvironmentOverrides.implied.filter { !(environment[$0.variable] ?? "").isEmpty }
            + (try DerivedEnvironment.settings(environment)).map { (variable: $0.variable, path: $0.path, value: $0.value) }
        overridden = Set(set.map { Self.listPath($0.path).joined(separator: ".") } + implied.map { $0.path.joined(separator: ".") })
        root = try expandVariables(root, path: [])
        for (variable, path) in set {
            root = Self.setting(root, path[...], to: environment[variable]!)
            envSources[Self.listPath(path).joined(separator: ".")] = variable
        }
        for (variable, path, value) in implied {
            root = Self.setting(root, path[...], to: value)
            envSources[path.joined(separator: ".")] = variable
        }
        // The coordinator's BIND_ADDRESS: the RTMP listener's address, its port kept.
        if let address = environment["BIND_ADDRESS"], !address.isEmpty {
            let path = ["modules", "rtmp", "listen"]
            let current = root.mapping?["modules"]?.mapping?["rtmp"]?.mapping?["listen"]?.scalar?.string ?? "11935"
            let port = current.split(separator: ":").last.map(String.init) ?? current
            root = Self.setting(root, path[...], to: address.contains(":") && !address.hasPrefix("[") ? "[\(address)]:\(port)" : "\(address):\(port)")
            envSources[path.joined(separator: ".")] = "BIND_ADDRESS"
            overridden.insert(path.joined(separator: "."))
        }
        return root
    }

    private func expandVariables(_ node: Node, path: [String]) throws(ConfigError) -> Node {
        if overridden.contains(path.joined(separator: ".")) { return node }
        switch node {
        case .scalar(var s):
            do {
                // Only a value that changed is rewritten, so an unexpanded scalar keeps its tag and style.
                let expanded = try VariableExpansion.expand(s.string, environment: environment)
                if expanded != s.string { s.string = expanded }
            } catch .unset(let name) {
                throw ConfigError(location: location(s.mark, path: path), key: path.joined(separator: "."), message: "environment variable \(name) is not set (write ${\(name):-default} for a fallback)")
            } catch {
                throw ConfigError(location: location(s.mark, path: path), key: path.joined(separator: "."), message: "unterminated ${ in value")
            }
            return .scalar(s)
        case .mapping(var m):
            var pairs: [(Node, Node)] = []
            for (k, v) in m { pairs.append((k, try expandVariables(v, path: path + [k.string ?? ""]))) }
            let mark = m.mark
            m = Node.Mapping(pairs, m.tag, m.style, mark)
            return .mapping(m)
        case .sequence(var s):
            var items: [Node] = []
            for (i, v) in s.enumerated() { items.append(try expandVariables(v, path: path + [String(i)])) }
            s = Node.Sequence(items, s.tag, s.style, s.mark)
            return .sequence(s)
        case .alias:
            return node
        }
    }

    /// A path without its list index: the key a list-item override replaces whole.
    private static func listPath(_ path: [String]) -> [String] {
        path.last.flatMap(Int.init) != nil ? Array(path.dropLast()) : path
    }

    private static func setting(_ node: Node, _ path: ArraySlice<String>, to value: String) -> Node {
        guard let first = path.first else { return Node(value) }
        // A list set by a variable is that one item (EVENT_CALLBACK_URL -> hooks.events.urls).
        if path.count == 1, Int(first) != nil { return .sequence(Node.Sequence([Node(value)])) }
        var mapping = node.mapping ?? Node.Mapping([])
        mapping[first] = setting(mapping[first] ?? .mapping(Node.Mapping([])), path.dropFirst(), to: value)
        return .mapping(mapping)
    }

    // MARK: - Modules

    private mutating func prepareModule(_ entry: ModuleCatalog.Entry, section: Node?, root: Node) throws(ConfigError) -> PreparedModule {
        let path = ["modules", entry.name]
        var mapping = Node.Mapping([])
        if let section {
            if let m = section.mapping {
                mapping = m
            } else if !Self.isNull(section) {
                throw error(at: path, in: root, section.mark, "expected a mapping (for example: enabled: true)")
            }
        }
        let enabled: Bool = try mapping["enabled"].flatMap { Self.isNull($0) ? nil : $0 }.map { (n: Node) throws(ConfigError) -> Bool in
            try decode(Bool.self, from: n, at: path + ["enabled"], root: root)
        } ?? entry.enabledByDefault
        let balancer: String? = try mapping["balancer"].flatMap { Self.isNull($0) ? nil : $0 }.map { (n: Node) throws(ConfigError) -> String in
            let name = try decode(String.self, from: n, at: path + ["balancer"], root: root)
            guard BalancingStrategies.names.contains(name) else {
                throw error(at: path + ["balancer"], in: root, n.mark, "unknown balancer '\(name)' (allowed: \(BalancingStrategies.names.joined(separator: ", ")))")
            }
            return name
        }
        mapping["enabled"] = nil
        mapping["balancer"] = nil
        let moduleNode = Node.mapping(mapping)
        do {
            let build = try entry.prepare(moduleNode)
            return PreparedModule(name: entry.name, enabled: enabled, balancer: balancer, build: build)
        } catch let decoding as DecodingError {
            var error = describe(decoding, prefix: path, root: root)
            // The host reads `enabled` and `balancer` itself; list them with the module's own keys.
            if error.message.hasPrefix("unknown key") {
                error.message = error.message.replacingOccurrences(of: "(allowed: ", with: "(allowed: enabled, balancer, ")
            }
            throw error
        } catch {
            throw ConfigError(location: location(section?.mark, path: path), key: path.joined(separator: "."), message: "\(error)")
        }
    }

    // MARK: - Decoding and error mapping

    private func decode<T: Decodable>(_ type: T.Type, from node: Node, at path: [String], root: Node? = nil) throws(ConfigError) -> T {
        do {
            return try YAMLDecoder().decode(type, from: node)
        } catch let decoding as DecodingError {
            throw describe(decoding, prefix: path, root: root ?? node)
        } catch {
            throw ConfigError(location: location(node.mark, path: path), key: path.joined(separator: "."), message: "\(error)")
        }
    }

    private func describe(_ error: DecodingError, prefix: [String], root: Node) -> ConfigError {
        let (codingPath, message): ([any CodingKey], String) = switch error {
        case .typeMismatch(let type, let c): (c.codingPath, "expected \(Self.friendly(type))")
        case .valueNotFound(let type, let c): (c.codingPath, "missing value (expected \(Self.friendly(type)))")
        case .keyNotFound(let key, let c): (c.codingPath + [key], "missing key")
        case .dataCorrupted(let c): (c.codingPath, c.debugDescription)
        @unknown default: ([], "\(error)")
        }
        let path = prefix + codingPath.map(\.stringValue)
        let mark = Self.mark(in: root, path: path, preferKey: message.hasPrefix("unknown key"))
        return ConfigError(location: location(mark, path: path), key: path.joined(separator: "."), message: message)
    }

    private func error(at path: [String], in root: Node, _ mark: Mark?, _ message: String) -> ConfigError {
        ConfigError(location: location(mark, path: path), key: path.joined(separator: "."), message: message)
    }

    /// `file:line:column`, or the environment variable that set this key.
    private func location(_ mark: Mark?, path: [String]) -> String {
        for n in stride(from: path.count, through: 1, by: -1) {
            if let variable = envSources[path.prefix(n).joined(separator: ".")] {
                return "environment variable \(variable)"
            }
        }
        guard let mark else { return file }
        return "\(file):\(mark.line):\(mark.column)"
    }

    /// The mark of the node at `path` (the key's own mark when `preferKey`), or of its nearest ancestor.
    static func mark(in root: Node, path: [String], preferKey: Bool) -> Mark? {
        var node = root
        var best = root.mark
        for (i, component) in path.enumerated() {
            if let m = node.mapping, let pair = m.first(where: { $0.key.string == component }) {
                best = (preferKey && i == path.count - 1) ? (pair.key.mark ?? pair.value.mark) : (pair.value.mark ?? pair.key.mark)
                node = pair.value
            } else if let s = node.sequence, let index = Int(component), index < s.count {
                node = s[index]
                best = node.mark ?? best
            } else {
                break
            }
        }
        return best
    }

    /// Yams' multi-line syntax errors as one line: `file:line:column: invalid YAML: problem`.
    static func syntaxError(file: String, _ text: String) -> ConfigError {
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        var location = file
        // Yams quotes the document in its message and ends with the position: take the last match.
        if let range = text.range(of: #"line (\d+), column (\d+)"#, options: [.regularExpression, .backwards]) {
            let numbers = text[range].split(whereSeparator: { !$0.isNumber })
            if numbers.count == 2 { location = "\(file):\(numbers[0]):\(numbers[1])" }
        }
        let problem = (lines.first ?? "syntax error")
            .replacingOccurrences(of: "Parser: ", with: "")
            .replacingOccurrences(of: #"^\d+:\d+: error: "#, with: "", options: .regularExpression)
        return ConfigError(location: location, key: "", message: "invalid YAML: \(problem)")
    }

    /// An empty value, `~` or `null`: a section written but left empty.
    static func isNull(_ node: Node) -> Bool {
        guard let s = node.scalar, s.style == .plain || s.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    private static func friendly(_ type: Any.Type) -> String {
        switch type {
        case is Bool.Type: "true or false"
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is String.Type: "a string"
        default:
            switch String(describing: type) {
            case let name where name.contains("Mapping") || name.contains("Dictionary") || name.contains("KeyedContainer"): "a mapping"
            case let name where name.contains("Sequence") || name.contains("Array") || name.contains("Unkeyed"): "a list"
            case let name where name.contains("Scalar"): "a single value"
            case let name: "a value of type \(name)"
            }
        }
    }
}
