import Graph
import Spec

/// Errors raised while writing or decoding output file formats (safetensors, atomic writes).
///
/// Messages name the file (or the `source` label passed to the decoder).
public enum FormatError: Error, CustomStringConvertible {
    /// A file could not be written, synced or renamed into place.
    case cannotWrite(path: String, reason: String)
    /// A file could not be read.
    case cannotRead(path: String, reason: String)
    /// A safetensors file is malformed; `reason` says how.
    case invalidSafetensors(source: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotWrite(path, reason):
            return "cannot write '\(path)': \(reason)"
        case let .cannotRead(path, reason):
            return "cannot read '\(path)': \(reason)"
        case let .invalidSafetensors(source, reason):
            return "'\(source)' is not a valid safetensors file: \(reason)"
        }
    }
}
