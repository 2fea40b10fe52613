import Foundation
import Testing

@testable import HTTPFLV

/// A temporary tree:
///
///     <base>/root/hello.txt, Page.HTML, "two words.css", app.js
///     <base>/root/sub/index.html, sub/data.json
///     <base>/root/empty/                      (no index.html)
///     <base>/root/inside-link  -> root/hello.txt
///     <base>/root/outside-link -> <base>/secret.txt
///     <base>/root/outside-dir  -> <base>/outside/
///     <base>/root/sibling-link -> <base>/root-evil/x.txt   (shares the root's name as a prefix)
///     <base>/secret.txt, <base>/outside/o.txt, <base>/root-evil/x.txt
final class StaticTree {
    let base: String
    let root: String

    init() throws {
        let fm = FileManager.default
        let url = fm.temporaryDirectory.appendingPathComponent("static-root-\(UUID().uuidString)")
        try fm.createDirectory(at: url, withIntermediateDirectories: true)
        base = url.resolvingSymlinksInPath().path
        root = base + "/root"
        for dir in ["root/sub", "root/empty", "outside", "root-evil"] {
            try fm.createDirectory(atPath: base + "/" + dir, withIntermediateDirectories: true)
        }
        for (file, text) in [
            ("root/hello.txt", "hello"), ("root/Page.HTML", "<p>"), ("root/two words.css", "p{}"), ("root/app.js", "1"),
            ("root/sub/index.html", "<h1>"), ("root/sub/data.json", "{}"),
            ("secret.txt", "secret"), ("outside/o.txt", "o"), ("root-evil/x.txt", "x"),
        ] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: base + "/" + file))
        }
        try fm.createSymbolicLink(atPath: root + "/inside-link", withDestinationPath: root + "/hello.txt")
        try fm.createSymbolicLink(atPath: root + "/outside-link", withDestinationPath: base + "/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/outside-dir", withDestinationPath: base + "/outside")
        try fm.createSymbolicLink(atPath: root + "/sibling-link", withDestinationPath: "../root-evil/x.txt")
    }

    deinit {
        try? FileManager.default.removeItem(atPath: base)
    }
}

@Suite struct StaticFileRootTests {
    let tree: StaticTree
    let files: StaticFileRoot

    init() throws {
        tree = try StaticTree()
        files = try StaticFileRoot(path: tree.root)
    }

    @Test func rootIsTheResolvedDirectory() throws {
        #expect(files.root == tree.root)
        // A root reached through a symlink is resolved once, up front.
        let link = tree.base + "/root-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: tree.root)
        #expect(try StaticFileRoot(path: link).root == tree.root)
        #expect(try StaticFileRoot(path: link).lookup("/hello.txt") == .file(path: tree.root + "/hello.txt", contentType: "text/plain; charset=utf-8"))
    }

    @Test func rootMustBeADirectory() {
        #expect(throws: StaticFileRootError.self) { try StaticFileRoot(path: tree.root + "/hello.txt") }
        #expect(throws: StaticFileRootError.self) { try StaticFileRoot(path: tree.base + "/missing") }
        do {
            _ = try StaticFileRoot(path: tree.base + "/missing")
        } catch {
            #expect("\(error)".contains("is not a directory"))
        }
    }

    @Test(arguments: [
        ("/hello.txt", "/hello.txt", "text/plain; charset=utf-8"),
        ("hello.txt", "/hello.txt", "text/plain; charset=utf-8"),
        ("//hello.txt", "/hello.txt", "text/plain; charset=utf-8"),
        ("/./hello.txt", "/hello.txt", "text/plain; charset=utf-8"),
        ("/%68ello.txt", "/hello.txt", "text/plain; charset=utf-8"),
        ("/Page.HTML", "/Page.HTML", "text/html; charset=utf-8"),
        ("/two%20words.css", "/two words.css", "text/css; charset=utf-8"),
        ("/app.js", "/app.js", "text/javascript; charset=utf-8"),
        ("/sub", "/sub/index.html", "text/html; charset=utf-8"),
        ("/sub/", "/sub/index.html", "text/html; charset=utf-8"),
        ("/sub/data.json", "/sub/data.json", "application/json"),
        ("/inside-link", "/hello.txt", "text/plain; charset=utf-8"),
    ])
    func servesFiles(_ request: String, _ relative: String, _ contentType: String) {
        #expect(files.lookup(request) == .file(path: tree.root + relative, contentType: contentType))
    }

    @Test(arguments: ["/missing.txt", "/sub/missing", "/empty", "/empty/", "/hello.txt/more", "/%zz", "/%2e%2e%zz", "/", "/..."])
    func missingIsNotFound(_ request: String) {
        #expect(files.lookup(request) == .notFound)
    }

    @Test(arguments: [
        "/..", "/../secret.txt", "/sub/../../secret.txt", "/sub/../hello.txt",
        "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/sub%2f..%2f..%2fsecret.txt",
        "/a\\b", "/..\\secret.txt", "/%5c..%5csecret.txt", "/%5C",
        "/hello.txt%00.png", "/%00", "/a\u{0}b",
        "/outside-link", "/outside-dir/o.txt", "/sibling-link",
        // A NUL or backslash followed by a combining mark is still one (a NUL would cut the path short).
        "/hello.txt%00%CC%81", "/outside-link%00%CC%81", "/a%5C%CC%81b",
    ])
    func escapesAreForbidden(_ request: String) {
        #expect(files.lookup(request) == .forbidden)
    }

    @Test(arguments: [
        ("index.html", "text/html; charset=utf-8"), ("a.HTM", "text/html; charset=utf-8"),
        ("m.mjs", "text/javascript; charset=utf-8"), ("s.SVG", "image/svg+xml"), ("p.png", "image/png"),
        ("p.jpg", "image/jpeg"), ("p.jpeg", "image/jpeg"), ("f.ico", "image/x-icon"), ("w.wasm", "application/wasm"),
        ("/live/s.m3u8", "application/vnd.apple.mpegurl"), ("s-1.ts", "video/mp2t"), ("s.flv", "video/x-flv"),
        ("v.mp4", "video/mp4"), ("c.m4s", "video/iso.segment"), ("a.mp3", "audio/mpeg"), ("a.aac", "audio/aac"),
        ("README", "application/octet-stream"), ("a.tar.gz", "application/octet-stream"), ("dir.d/noext", "application/octet-stream"),
        (".hidden", "application/octet-stream"), ("trailing.", "application/octet-stream"),
    ])
    func contentTypes(_ path: String, _ expected: String) {
        #expect(StaticFileRoot.contentType(of: path) == expected)
    }
}
