import Crypto
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// A local server that answers the hub's routes (`/api/models/…/revision/…`, `/…/resolve/…`) for one repository,
/// with Range support, so downloads are tested without the internet.
final class FakeHub: Sendable {
    struct File: Sendable {
        let path: String
        let content: Data
        let lfs: Bool
    }

    let organization: String
    let name: String
    let commit = "0123456789abcdef0123456789abcdef01234567"
    let files: [File]
    /// Body bytes served so far per file (to see what a resume really fetched).
    let served = Mutex<[String: Int]>([:])
    /// Files whose content is served corrupted (one byte flipped).
    let corrupt = Mutex<Set<String>>([])
    /// Whether requests must carry `Authorization: Bearer secret`.
    let requireToken: Bool

    init(organization: String, name: String, files: [File], requireToken: Bool = false) {
        self.organization = organization
        self.name = name
        self.files = files
        self.requireToken = requireToken
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func metadata() -> Data {
        let siblings: [[String: Any]] = files.map { file in
            var sha1 = Insecure.SHA1()
            sha1.update(data: Data("blob \(file.content.count)\u{0}".utf8))
            sha1.update(data: file.content)
            var entry: [String: Any] = ["rfilename": file.path, "size": file.content.count, "blobId": Self.hex(sha1.finalize())]
            if file.lfs {
                entry["lfs"] = ["sha256": Self.hex(SHA256.hash(data: file.content)), "size": file.content.count, "pointerSize": 134]
            }
            return entry
        }
        let object: [String: Any] = ["id": "\(organization)/\(name)", "sha": commit, "siblings": siblings]
        return try! JSONSerialization.data(withJSONObject: object)
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("api/models/:org/:name/revision/:rev") { request, context -> Response in
            if let denied = self.authorize(request) { return denied }
            guard context.parameters.get("org") == self.organization, context.parameters.get("name") == self.name else {
                return Response(status: .notFound)
            }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(data: self.metadata())))
        }
        router.get(":org/:name/resolve/:rev/**") { request, context -> Response in
            if let denied = self.authorize(request) { return denied }
            let path = context.parameters.getCatchAll().joined(separator: "/")
            guard let file = self.files.first(where: { $0.path == path }) else { return Response(status: .notFound) }
            var content = file.content
            if self.corrupt.withLock({ $0.contains(path) }), !content.isEmpty { content[content.count / 2] ^= 0xFF }
            var start = 0
            var status = HTTPResponse.Status.ok
            if let range = request.headers[.range], range.hasPrefix("bytes="), range.hasSuffix("-"),
               let from = Int(range.dropFirst(6).dropLast()), from <= content.count {
                start = from
                status = .partialContent
            }
            let body = content.subdata(in: start..<content.count)
            self.served.withLock { $0[path, default: 0] += body.count }
            let headers: HTTPFields = [.contentType: "application/octet-stream"]
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: body)))
        }
        return router
    }

    private func authorize(_ request: Request) -> Response? {
        guard requireToken else { return nil }
        return request.headers[.authorization] == "Bearer secret" ? nil : Response(status: .unauthorized)
    }
}
