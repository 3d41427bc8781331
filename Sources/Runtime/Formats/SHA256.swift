import Foundation
import Graph
import Spec

/// A streaming, pure-Swift implementation of SHA-256 (FIPS 180-4).
///
/// Use ``update(_:)`` any number of times, then ``finalizeHex()`` (or ``finalize()``) once.
/// For one-shot hashing prefer the free function `sha256Hex(_:)`.
public struct SHA256Hasher {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    private var buffer: [UInt8] = []
    private var totalLength: UInt64 = 0
    private var finished = false

    /// Creates a hasher in its initial state.
    public init() {
        buffer.reserveCapacity(64)
    }

    /// Feeds `bytes` into the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "SHA256Hasher.update called after finalize")
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return }
        totalLength &+= UInt64(count)
        var offset = 0
        if !buffer.isEmpty {
            let take = min(64 - buffer.count, count)
            buffer.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            offset = take
            if buffer.count == 64 {
                let block = buffer
                buffer.removeAll(keepingCapacity: true)
                block.withUnsafeBytes { raw in
                    if let p = raw.baseAddress { compress(blocks: p, count: 1) }
                }
            }
        }
        let fullBlocks = (count - offset) / 64
        if fullBlocks > 0 {
            compress(blocks: base + offset, count: fullBlocks)
            offset += fullBlocks * 64
        }
        if offset < count {
            buffer.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: count - offset))
        }
    }

    /// Feeds `bytes` into the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes the hash and returns the 32-byte digest. The hasher must not be used afterwards.
    public mutating func finalize() -> [UInt8] {
        precondition(!finished, "SHA256Hasher.finalize called twice")
        let bitLength = totalLength &* 8
        var tail = buffer
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        let blockCount = tail.count / 64
        tail.withUnsafeBytes { raw in
            if let p = raw.baseAddress { compress(blocks: p, count: blockCount) }
        }
        finished = true
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7] {
            out.append(UInt8(truncatingIfNeeded: word >> 24))
            out.append(UInt8(truncatingIfNeeded: word >> 16))
            out.append(UInt8(truncatingIfNeeded: word >> 8))
            out.append(UInt8(truncatingIfNeeded: word))
        }
        return out
    }

    /// Finishes the hash and returns the digest as 64 lowercase hexadecimal characters.
    public mutating func finalizeHex() -> String {
        hexString(finalize())
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x >> n) | (x << (32 &- n))
    }

    private mutating func compress(blocks: UnsafeRawPointer, count: Int) {
        var w = [UInt32](repeating: 0, count: 64)
        var state = h
        SHA256Hasher.k.withUnsafeBufferPointer { k in
            w.withUnsafeMutableBufferPointer { w in
                for block in 0..<count {
                    let p = blocks + block * 64
                    for i in 0..<16 {
                        let b0 = UInt32(p.load(fromByteOffset: 4 * i, as: UInt8.self))
                        let b1 = UInt32(p.load(fromByteOffset: 4 * i + 1, as: UInt8.self))
                        let b2 = UInt32(p.load(fromByteOffset: 4 * i + 2, as: UInt8.self))
                        let b3 = UInt32(p.load(fromByteOffset: 4 * i + 3, as: UInt8.self))
                        w[i] = (b0 << 24) | (b1 << 16) | (b2 << 8) | b3
                    }
                    for i in 16..<64 {
                        let x = w[i - 15], y = w[i - 2]
                        let s0 = SHA256Hasher.rotr(x, 7) ^ SHA256Hasher.rotr(x, 18) ^ (x >> 3)
                        let s1 = SHA256Hasher.rotr(y, 17) ^ SHA256Hasher.rotr(y, 19) ^ (y >> 10)
                        w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
                    }
                    var (a, b, c, d, e, f, g, hh) = state
                    for i in 0..<64 {
                        let s1 = SHA256Hasher.rotr(e, 6) ^ SHA256Hasher.rotr(e, 11) ^ SHA256Hasher.rotr(e, 25)
                        let ch = (e & f) ^ (~e & g)
                        let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                        let s0 = SHA256Hasher.rotr(a, 2) ^ SHA256Hasher.rotr(a, 13) ^ SHA256Hasher.rotr(a, 22)
                        let maj = (a & b) ^ (a & c) ^ (b & c)
                        let t2 = s0 &+ maj
                        hh = g; g = f; f = e; e = d &+ t1
                        d = c; c = b; b = a; a = t1 &+ t2
                    }
                    state.0 = state.0 &+ a; state.1 = state.1 &+ b
                    state.2 = state.2 &+ c; state.3 = state.3 &+ d
                    state.4 = state.4 &+ e; state.5 = state.5 &+ f
                    state.6 = state.6 &+ g; state.7 = state.7 &+ hh
                }
            }
        }
        h = state
    }
}

/// Lowercase hexadecimal rendering of `bytes`.
func hexString(_ bytes: [UInt8]) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var chars: [UInt8] = []
    chars.reserveCapacity(bytes.count * 2)
    for b in bytes {
        chars.append(digits[Int(b >> 4)])
        chars.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: chars, as: UTF8.self)
}

/// Returns the SHA-256 digest of `bytes` as 64 lowercase hexadecimal characters.
public func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
    var hasher = SHA256Hasher()
    hasher.update(bytes)
    return hasher.finalizeHex()
}

/// Returns the SHA-256 digest of `bytes` as 64 lowercase hexadecimal characters.
public func sha256Hex(_ bytes: [UInt8]) -> String {
    bytes.withUnsafeBytes { sha256Hex($0) }
}

/// Returns the SHA-256 digest of `data` as 64 lowercase hexadecimal characters.
public func sha256Hex(_ data: Data) -> String {
    data.withUnsafeBytes { sha256Hex($0) }
}
