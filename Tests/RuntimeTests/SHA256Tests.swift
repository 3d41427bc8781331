import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

final class SHA256Tests: XCTestCase {
    func testEmpty() {
        XCTAssertEqual(sha256Hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testABC() {
        XCTAssertEqual(sha256Hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func test448BitMessage() {
        let m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        XCTAssertEqual(sha256Hex(Data(m.utf8)), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testOneMillionA() {
        let bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        XCTAssertEqual(bytes.withUnsafeBytes { sha256Hex($0) }, expected)
        // Streaming in odd-sized chunks gives the same digest.
        var hasher = SHA256Hasher()
        var i = 0
        var chunk = 1
        while i < bytes.count {
            let n = min(chunk, bytes.count - i)
            bytes.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[i..<(i + n)])) }
            i += n
            chunk = chunk * 3 % 1000 + 1
        }
        XCTAssertEqual(hasher.finalizeHex(), expected)
    }

    func testPaddingBoundaries() {
        // Lengths around the 55/56/64-byte padding boundaries (values from `sha256sum`).
        XCTAssertEqual(sha256Hex([UInt8](repeating: 0x61, count: 55)),
                       "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        XCTAssertEqual(sha256Hex([UInt8](repeating: 0x61, count: 56)),
                       "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        XCTAssertEqual(sha256Hex([UInt8](repeating: 0x61, count: 64)),
                       "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }
}
