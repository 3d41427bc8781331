import Foundation
import Graph
import Spec

/// One of the four standard MNIST files.
public struct MNISTFile: Sendable, Hashable {
    /// Whether a file holds images or labels.
    public enum Kind: Sendable, Hashable {
        /// An IDX3 file of 28x28 images.
        case images
        /// An IDX1 file of labels.
        case labels
    }

    /// File name without the `.gz` extension, e.g. `train-images-idx3-ubyte`.
    public let stem: String
    /// Images or labels.
    public let kind: Kind
    /// Number of images or labels the file holds.
    public let count: Int
    /// Lowercase hex SHA-256 of the decompressed file.
    public let sha256: String

    /// Creates a file description.
    public init(stem: String, kind: Kind, count: Int, sha256: String) {
        self.stem = stem
        self.kind = kind
        self.count = count
        self.sha256 = sha256
    }

    /// The compressed file name, `stem + ".gz"`.
    public var gzipName: String { stem + ".gz" }

    /// Bytes of the decompressed file: the IDX header and one byte per pixel or label.
    public var byteCount: Int {
        switch kind {
        case .images: return 16 + count * MNIST.pixelsPerImage
        case .labels: return 8 + count
        }
    }

    /// Reading any of the four files stops past the largest one's size (nor may a compressed file
    /// be larger), so no file can exhaust memory, yet a swapped file is still read and recognised.
    public static let readLimit = all.map(\.byteCount).max() ?? 0

    /// "the test images".
    public var role: String {
        "the \(count == 60000 ? "training" : "test") \(kind == .images ? "images" : "labels")"
    }

    /// What `bytes` (a file that failed its checksum) holds instead, when recognisable: nothing,
    /// or another of the four MNIST files (a train/test or images/labels swap).
    func recognise(_ bytes: [UInt8], sha256 actual: String) -> String? {
        if bytes.isEmpty { return "the file is empty (0 bytes after decompression; expected \(byteCount))" }
        if let other = MNISTFile.all.first(where: { $0.sha256 == actual }) {
            return "its contents are '\(other.stem)' (\(other.role)), not \(role): the files were swapped or misnamed"
        }
        if bytes.count != byteCount {
            return "it has \(bytes.count) bytes after decompression; \(role) have \(byteCount)"
        }
        return nil
    }

    /// The 60,000 training images.
    public static let trainImages = MNISTFile(
        stem: "train-images-idx3-ubyte", kind: .images, count: 60000,
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db")
    /// The 60,000 training labels.
    public static let trainLabels = MNISTFile(
        stem: "train-labels-idx1-ubyte", kind: .labels, count: 60000,
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5")
    /// The 10,000 test images.
    public static let testImages = MNISTFile(
        stem: "t10k-images-idx3-ubyte", kind: .images, count: 10000,
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7")
    /// The 10,000 test labels.
    public static let testLabels = MNISTFile(
        stem: "t10k-labels-idx1-ubyte", kind: .labels, count: 10000,
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")

    /// All four files, in the order train images, train labels, test images, test labels.
    public static let all: [MNISTFile] = [trainImages, trainLabels, testImages, testLabels]

    /// Returns the path of this file inside `directory`: `STEM.gz` if present, else `STEM`,
    /// or `nil` when neither exists.
    public func locate(in directory: String) -> String? {
        for name in [gzipName, stem] {
            let path = joinPath(directory, name)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
                return path
            }
        }
        return nil
    }

    /// Reads this file from `directory` (compressed or not), decompresses it and, when `verify`
    /// is true, checks the SHA-256 of the decompressed bytes.
    ///
    /// - Returns: the path that was read and the decompressed bytes.
    /// - Throws: ``DataError/missingFile(directory:stem:tried:)``,
    ///   ``DataError/checksumMismatch(path:expected:actual:)`` or a read/gzip error.
    public func readVerified(in directory: String, verify: Bool = true) throws -> (path: String, bytes: [UInt8]) {
        guard let path = locate(in: directory) else {
            throw DataError.missingFile(directory: directory, stem: stem,
                                        tried: [joinPath(directory, gzipName), joinPath(directory, stem)])
        }
        let bytes = try readMaybeGzip(path: path, limit: MNISTFile.readLimit)
        if verify {
            let actual = sha256Hex(bytes)
            guard actual == sha256 else {
                throw DataError.checksumMismatch(path: path, expected: sha256, actual: actual,
                                                 contents: recognise(bytes, sha256: actual))
            }
        }
        return (path, bytes)
    }
}

/// Joins a directory and a file name with exactly one `/`.
func joinPath(_ directory: String, _ name: String) -> String {
    if directory.isEmpty { return name }
    return directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// The MNIST data set. Pixels stay bytes (47 MB for the training set rather than 188 MB as
/// floats); the runtime normalizes each batch as it gathers it, through `normalizationTable`.
public struct MNIST: Sendable {
    /// Mean pixel intensity (in [0, 1]) of the training set, used for normalisation.
    public static let mean: Float = 0.1307
    /// Standard deviation of pixel intensities of the training set, used for normalisation.
    public static let std: Float = 0.3081
    /// Image height and width.
    public static let side = 28
    /// Pixels per image.
    public static let pixelsPerImage = 784

    /// `(x / 255 − mean) / std` for every byte value x.
    public static let normalizationTable: [Float] = (0..<256).map { (Float($0) / 255 - mean) / std }

    public let train: LabeledImages
    public let test: LabeledImages

    public var trainCount: Int { train.count }
    public var testCount: Int { test.count }

    /// Creates a data set from raw pixels (`count * 784` bytes) and labels.
    public init(trainPixels: [UInt8], trainLabels: [Int32], testPixels: [UInt8], testLabels: [Int32]) {
        train = LabeledImages(pixels: trainPixels, labels: trainLabels, featuresPerExample: MNIST.pixelsPerImage,
                              normalization: MNIST.normalizationTable)
        test = LabeledImages(pixels: testPixels, labels: testLabels, featuresPerExample: MNIST.pixelsPerImage,
                             normalization: MNIST.normalizationTable)
    }

    /// Normalises raw pixels: `(x / 255 - mean) / std`.
    public static func normalize(_ pixels: [UInt8]) -> [Float] {
        pixels.map { normalizationTable[Int($0)] }
    }

    /// Loads the four MNIST files from `directory`.
    ///
    /// For each file `STEM.gz` is preferred, then the uncompressed `STEM`. With `verify` (the
    /// default) the SHA-256 of every decompressed file must match ``MNISTFile/sha256`` and the
    /// counts must be the standard ones; without it only the IDX structure, 28x28 images and
    /// matching image/label counts are checked.
    ///
    /// - Throws: ``DataError`` naming the offending file.
    public static func load(directory: String, verify: Bool = true) throws -> MNIST {
        let files = MNISTFile.all
        // Decompress and hash the four files concurrently; each slot is written by one iteration.
        var results = [Result<(path: String, bytes: [UInt8]), Error>?](repeating: nil, count: files.count)
        results.withUnsafeMutableBufferPointer { slots in
            let base = slots
            DispatchQueue.concurrentPerform(iterations: files.count) { i in
                base[i] = Result { try files[i].readVerified(in: directory, verify: verify) }
            }
        }
        var loaded: [(path: String, bytes: [UInt8])] = []
        for r in results {
            guard let r else { throw DataError.cannotRead(path: directory, reason: "internal error: file not loaded") }
            loaded.append(try r.get())
        }
        let trainImg = try IDXImages.parse(loaded[0].bytes, name: loaded[0].path)
        let trainLab = try IDXLabels.parse(loaded[1].bytes, name: loaded[1].path)
        let testImg = try IDXImages.parse(loaded[2].bytes, name: loaded[2].path)
        let testLab = try IDXLabels.parse(loaded[3].bytes, name: loaded[3].path)
        loaded.removeAll()

        for (images, path) in [(trainImg, files[0]), (testImg, files[2])] where images.rows != side || images.cols != side {
            throw DataError.badDimensions(path: path.locate(in: directory) ?? path.stem,
                                          reason: "images are \(images.rows)x\(images.cols), expected 28x28")
        }
        let pairs: [(IDXImages, IDXLabels, MNISTFile, MNISTFile)] = [
            (trainImg, trainLab, files[0], files[1]), (testImg, testLab, files[2], files[3]),
        ]
        for (images, labels, imageFile, labelFile) in pairs {
            let labelPath = labelFile.locate(in: directory) ?? labelFile.stem
            if images.count != labels.count {
                throw DataError.inconsistent(path: labelPath,
                                             reason: "has \(labels.count) labels but '\(imageFile.stem)' has \(images.count) images")
            }
            if verify && labels.count != labelFile.count {
                throw DataError.inconsistent(path: labelPath, reason: "has \(labels.count) entries, expected \(labelFile.count)")
            }
        }
        return MNIST(trainPixels: trainImg.pixels, trainLabels: trainLab.labels.map { Int32($0) },
                     testPixels: testImg.pixels, testLabels: testLab.labels.map { Int32($0) })
    }

    /// Resolves the data directory: the `--data DIR` flag if given, else `$CNNC_DATA`, else
    /// `~/.cache/cnnc/mnist` (with `~` taken from `$HOME`, or the user's home directory).
    ///
    /// A leading `~/` in the flag or the variable is expanded the same way.
    public static func resolveDirectory(flag: String?, environment: [String: String]) -> String {
        let home: String = {
            if let h = environment["HOME"], !h.isEmpty { return h }
            return NSHomeDirectory()
        }()
        func expand(_ p: String) -> String {
            if p == "~" { return home }
            if p.hasPrefix("~/") { return joinPath(home, String(p.dropFirst(2))) }
            return p
        }
        if let flag, !flag.isEmpty { return expand(flag) }
        if let env = environment["CNNC_DATA"], !env.isEmpty { return expand(env) }
        return joinPath(home, ".cache/cnnc/mnist")
    }
}
