import Foundation
import Testing
import LanguageModel
import Numerics

/// llama2.c checkpoint reading, writing and validation (SPEC §6).
@Suite("Checkpoints")
struct CheckpointTests {
    static let loaded = Loaded { try Data(contentsOf: URL(fileURLWithPath: TestPaths.stories260K)) }
    static var original: Data { get throws { try loaded.get() } }

    @Test("stories260K: header as documented, write(read(file)) is byte-identical")
    func roundTripStories() throws {
        let weights = try Checkpoint.decode(Self.original, path: "stories260K.bin")
        #expect(weights.config == ModelConfig(dim: 64, hiddenDim: 172, layers: 5, heads: 8, kvHeads: 4,
                                              vocabularySize: 512, maxSequenceLength: 512, sharedClassifier: true))
        #expect(Checkpoint.encode(weights) == (try Self.original))
    }

    @Test("a new untied GQA model: write, read, write again gives the same bytes and weights")
    func roundTripNew() throws {
        let config = ModelConfig(dim: 32, hiddenDim: 96, layers: 2, heads: 4, kvHeads: 2, vocabularySize: 300,
                                 maxSequenceLength: 16, sharedClassifier: false)
        let weights = TransformerWeights(random: config, seed: 5)
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("m.bin").path
        try Checkpoint.write(weights, to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.count == Checkpoint.fileSize(config))
        let back = try Checkpoint.read(path)
        #expect(back.config == config)
        #expect(back.classifier.array == weights.classifier.array)
        #expect(back.wk.array == weights.wk.array)
        #expect(Checkpoint.encode(back) == bytes)
        // The legacy RoPE tables hold cos/sin as llama2.c's export writes them: cos(0) = 1, sin(0) = 0.
        let tables = try #require(back.legacyRopeTables)
        #expect(tables[0] == 1 && tables[tables.count / 2] == 0)
    }

    /// Reading a real file holding `data` must fail with one line naming the file and containing `fragment`.
    func expectFailure(_ data: Data, _ fragment: String) {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("bad.bin").path
        _ = FileManager.default.createFile(atPath: path, contents: data)
        do {
            _ = try Checkpoint.read(path)
            Issue.record("accepted a malformed checkpoint (expected: \(fragment))")
        } catch let error as CheckpointError {
            #expect(error.description.hasPrefix(path + ": "))
            #expect(error.description.contains(fragment), "message was: \(error.description)")
            #expect(!error.description.contains("\n"), "one line")
        } catch {
            Issue.record("unexpected error type: \(error)")
        }
    }

    func withHeader(_ values: [Int32], body: Data) -> Data {
        var d = Data()
        values.withUnsafeBytes { d.append(contentsOf: $0) }
        return d + body
    }

    @Test("truncated files, trailing bytes and short headers are rejected")
    func sizeChecks() throws {
        let original = try Self.original
        expectFailure(original.prefix(original.count - 4), "truncated: the header describes 1056540 bytes but the file has 1056536")
        expectFailure(original.prefix(1000), "truncated")
        expectFailure(original.prefix(10), "shorter than the 28-byte llama2.c header")
        expectFailure(original + Data([0, 0, 0, 0]), "4 unexpected bytes after the last tensor")
    }

    @Test("bad dimensions in the header are rejected with the reason")
    func headerChecks() {
        let body = Data(count: 64)
        expectFailure(withHeader([0, 172, 5, 8, 4, 512, 512], body: body), "dim is 0, must be positive")
        expectFailure(withHeader([64, 172, -5, 8, 4, 512, 512], body: body), "n_layers is -5, must be positive")
        expectFailure(withHeader([64, 172, 5, 7, 7, 512, 512], body: body), "dim 64 is not divisible by n_heads 7")
        expectFailure(withHeader([64, 172, 5, 8, 3, 512, 512], body: body), "n_heads 8 is not divisible by n_kv_heads 3")
        expectFailure(withHeader([64, 172, 5, 0, 4, 512, 512], body: body), "n_heads is 0")
        var magic = Data("ak42".utf8.reversed())
        magic.append(Data(count: 64))
        expectFailure(magic, "version-1/2 export")
    }

    @Test("a NaN or an infinity in the weights is rejected, naming the tensor")
    func nonFinite() throws {
        var data = try Self.original
        // First float of wq: after the header, the embedding (512*64) and rms_att (5*64).
        let offset = Checkpoint.headerSize + 4 * (512 * 64 + 5 * 64) + 4 * 10
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { data.replaceSubrange(offset..<offset + 4, with: $0) }
        expectFailure(data, "tensor wq holds nan at element 10")
        var inf = try Self.original
        let last = Checkpoint.headerSize + 4 * (512 * 64 + 5 * 64 + 5 * 64 * 64 + 2)
        withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian) { inf.replaceSubrange(last..<last + 4, with: $0) }
        expectFailure(inf, "tensor wk holds inf")
    }

    @Test("a real malformed file on disk: the error names the file")
    func fileErrors() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("cut.bin").path
        try Self.original.prefix(5000).write(to: URL(fileURLWithPath: path))
        #expect(throws: CheckpointError.self) { try Checkpoint.read(path) }
        let truncated = #expect(throws: CheckpointError.self) { try Checkpoint.read(path) }
        #expect(truncated?.description.hasPrefix(path + ": truncated") == true, "\(String(describing: truncated))")
        let missing = folder.appendingPathComponent("missing.bin").path
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.read(missing) }
        #expect(error?.description == missing + ": no such file", "\(String(describing: error))")
        let isFolder = #expect(throws: CheckpointError.self) { try Checkpoint.read(folder.path) }
        #expect(isFolder?.description == folder.path + ": is a folder, not a checkpoint file")
    }

    @Test("atomic write: a failed write leaves the old file and no temporary behind")
    func atomicWrite() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("m.bin").path
        try AtomicFile.write(Data("old".utf8), to: path)
        #expect(throws: AtomicFileError.self) { try AtomicFile.write(Data("new".utf8), to: folder.path + "/no/such/dir/m.bin") }
        // Writing over a directory fails at rename: the temporary file must be cleaned up.
        try FileManager.default.createDirectory(atPath: folder.path + "/dir", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: folder.path + "/dir/sub", withIntermediateDirectories: false)
        #expect(throws: AtomicFileError.self) { try AtomicFile.write(Data("x".utf8), to: folder.path + "/dir/sub") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path + "/dir") == ["sub"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("old".utf8))
    }
}
