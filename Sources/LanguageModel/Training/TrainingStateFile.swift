import Foundation
import Numerics

/// The resumable state of a training run: magic `HSTS`, version, a JSON header (settings,
/// step, random state, history: whatever the trainer saves), then float32 tensors (weights and
/// optimiser moments) in the trainer's fixed order. Written atomically.
public enum TrainingStateFile {
    static let magic: UInt32 = 0x5354_5348   // "HSTS" little-endian
    static let version: UInt32 = 1

    /// Writes `header` and `tensors` to `path` atomically.
    public static func write<Header: Encodable>(header: Header, tensors: [Tensor], to path: String) throws {
        let json = try JSONEncoder().encode(header)
        var data = Data()
        for word in [magic, version, UInt32(json.count)] { withUnsafeBytes(of: word.littleEndian) { data.append(contentsOf: $0) } }
        data.append(json)
        for t in tensors { data.append(UnsafeBufferPointer(start: t.pointer, count: t.count)) }
        try AtomicFile.write(data, to: path)
    }

    /// Reads the header of the state at `path` and returns it with a loader for the tensors.
    public static func read<Header: Decodable>(_ path: String, as: Header.Type) throws -> (header: Header, load: ([Tensor]) throws -> Void) {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw TrainingError("\(path): no training state to resume (run without --resume to start)")
        }
        func fail(_ problem: String) -> TrainingError { TrainingError("\(path): \(problem)") }
        guard bytes.count >= 12 else { throw fail("truncated training state") }
        let (m, v, n) = bytes.withUnsafeBytes {
            ($0.loadUnaligned(fromByteOffset: 0, as: UInt32.self), $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
             Int($0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        }
        guard m == magic else { throw fail("not a HydraSim training state (bad magic number)") }
        guard v == version else { throw fail("training state version \(v); this HydraSim reads version \(version)") }
        guard bytes.count >= 12 + n, let header = try? JSONDecoder().decode(Header.self, from: bytes.subdata(in: 12..<12 + n)) else {
            throw fail("truncated or unreadable training state header")
        }
        let load = { (tensors: [Tensor]) throws in
            let expected = 12 + n + 4 * tensors.reduce(0) { $0 + $1.count }
            guard bytes.count == expected else { throw fail("truncated or corrupt training state (\(bytes.count) bytes, expected \(expected))") }
            bytes.withUnsafeBytes { raw in
                var offset = 12 + n
                for t in tensors {
                    UnsafeMutableRawBufferPointer(start: t.pointer, count: 4 * t.count)
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 4 * t.count]))
                    offset += 4 * t.count
                }
            }
        }
        return (header, load)
    }

    /// A short description of how two settings differ ("field was A, now B, ..."), for resume errors.
    public static func differences<S: Encodable>(_ saved: S, _ requested: S) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func flat(_ s: S) -> [String: String] {
            guard let data = try? encoder.encode(s), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            var out: [String: String] = [:]
            for (key, value) in object {
                if let nested = value as? [String: Any] { for (k, v) in nested { out["\(key).\(k)"] = "\(v)" } } else { out[key] = "\(value)" }
            }
            return out
        }
        let a = flat(saved), b = flat(requested)
        return Set(a.keys).union(b.keys).sorted().filter { a[$0] != b[$0] }
            .map { "\($0) was \(a[$0] ?? "-"), now \(b[$0] ?? "-")" }.joined(separator: ", ")
    }
}
