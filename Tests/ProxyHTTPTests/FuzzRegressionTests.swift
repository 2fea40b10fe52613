import ProxyHTTP
import Testing

/// Inputs the fuzzer (fuzz/run, target http-request-reader) found, replayed: a request head must
/// be refused the same way however the bytes are cut into reads. The first byte of a request line
/// decided the refusal only while no LF had arrived; with one in the same read the bytes waited
/// for a blank line (a 408 at the header timeout instead of a 400 at once) or were refused as too
/// long. Corpus: fuzz/corpus/regression-http-request-reader-*.
@Suite struct FuzzRegressionTests {
    typealias Limits = ClientRequestHead.Limits

    /// The result of `parse`, an error as its value.
    func result(_ bytes: [UInt8], limits: Limits) -> Result<ClientRequestHead.ParseResult, ClientRequestHeadError> {
        Result { () throws(ClientRequestHeadError) in try ClientRequestHead.parse(bytes, limits: limits) }
    }

    /// Every prefix that is refused is refused as the whole input is.
    func checkPrefixes(_ bytes: [UInt8], limits: Limits = Limits()) {
        let whole = result(bytes, limits: limits)
        for cut in 1...bytes.count {
            if case .failure(let error) = result(Array(bytes.prefix(cut)), limits: limits) {
                #expect(whole == .failure(error), "the first \(cut) bytes give \(error), the whole input \(whole)")
            }
        }
    }

    /// `E0 0A`: a non-token first byte and a LF in one read.
    @Test func aControlByteBeforeALineFeedIsRefusedAtOnce() {
        #expect(result([0xE0, 0x0A], limits: Limits()) == .failure(.malformed("request line starts with a control byte")))
        #expect(result([0xE0], limits: Limits()) == .failure(.malformed("request line starts with a control byte")))
        checkPrefixes([0xE0, 0x0A])
        // A TLS ClientHello whose random bytes hold a LF.
        checkPrefixes([0x16, 0x03, 0x01, 0x00, 0x0A, 0x01, 0x0A, 0x0A])
    }

    /// `F8` repeated past the request-line limit, then a LF: refused as a bad first byte whatever
    /// the cut, not as too long when the whole line came in one read.
    @Test func aControlByteIsRefusedBeforeTheLineLength() {
        var limits = Limits()
        limits.maxRequestLine = 96
        limits.maxHead = 400
        limits.maxHeaderCount = 6
        let bytes = [UInt8](repeating: 0xF8, count: 101) + [0x0A]
        #expect(result(bytes, limits: limits) == .failure(.malformed("request line starts with a control byte")))
        checkPrefixes(bytes, limits: limits)
    }

    /// What must not change: blank lines before the request line, a lone CR that may start one,
    /// and a long line of token bytes (414, not 400).
    @Test func blankLinesAndLongLinesAreAsBefore() throws {
        #expect(result([0x0D], limits: Limits()) == .success(.needMore))
        #expect(result(Array("\r\n\nGET / HTTP/1.1\r\n\r\n".utf8), limits: Limits()).map { if case .head = $0 { true } else { false } } == .success(true))
        #expect(result([0x0D, 0x41], limits: Limits()) == .failure(.malformed("request line starts with a control byte")))
        var limits = Limits()
        limits.maxRequestLine = 16
        #expect(result(Array("GET /0123456789ab\n".utf8), limits: limits) == .failure(.requestLineTooLong))
    }
}
