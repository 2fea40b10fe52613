import Foundation

extension APIError {
    /// A request body that must be one JSON object: its fields, or a 400 naming what is wrong.
    static func jsonObject(_ data: Data) throws(APIError) -> [String: Any] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw APIError(.badRequest, "malformed JSON body")
        }
        guard let fields = object as? [String: Any] else { throw APIError(.badRequest, "expected a JSON object") }
        return fields
    }
}
