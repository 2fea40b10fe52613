import Foundation

/// `modules.http-flv.static_files`: a directory served for paths that are not live streams.
/// A request path is percent-decoded, refused with 403 when any segment is `..` or it holds a
/// NUL or backslash, and the file's resolved real path (symlinks followed) must still lie
/// inside the root's; a directory serves its `index.html`.
struct StaticFileRoot: Sendable {
    enum Lookup: Equatable {
        case file(path: String, contentType: String)
        case forbidden
        case notFound
    }

    let root: String

    /// Fails when `path` is not an existing directory.
    init(path: String) throws {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StaticFileRootError.notADirectory(path)
        }
        root = resolved
    }

    /// Where `requestPath` (the path of a request target, still percent-encoded) leads.
    func lookup(_ requestPath: String) -> Lookup {
        let decoded = requestPath.removingPercentEncoding ?? requestPath
        // Scalars, not Characters: a NUL or backslash followed by a combining mark is still one.
        if decoded.unicodeScalars.contains(where: { $0 == "\0" || $0 == "\\" }) { return .forbidden }
        let segments = decoded.split(separator: "/", omittingEmptySubsequences: true)
        if segments.contains(where: { $0 == ".." }) { return .forbidden }
        var candidate = root + "/" + segments.joined(separator: "/")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory) else { return .notFound }
        if isDirectory.boolValue {
            candidate += "/index.html"
            guard FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue else { return .notFound }
        }
        let real = URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path
        guard real.hasPrefix(root + "/") else { return .forbidden }
        return .file(path: real, contentType: Self.contentType(of: real))
    }

    static func contentType(of path: String) -> String {
        let ext = (path as NSString).pathExtension.lowercased()
        return [
            "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
            "mjs": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "json": "application/json",
            "txt": "text/plain; charset=utf-8", "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg",
            "jpeg": "image/jpeg", "gif": "image/gif", "ico": "image/x-icon", "wasm": "application/wasm",
            "m3u8": "application/vnd.apple.mpegurl", "ts": "video/mp2t", "flv": "video/x-flv", "mp4": "video/mp4",
            "m4s": "video/iso.segment", "mp3": "audio/mpeg", "aac": "audio/aac",
        ][ext] ?? "application/octet-stream"
    }
}

enum StaticFileRootError: Error, CustomStringConvertible {
    case notADirectory(String)

    var description: String {
        switch self {
        case .notADirectory(let path): "static_files: '\(path)' is not a directory"
        }
    }
}
