import Foundation
import Testing
import LanguageModel

/// HydraSim's vocabularies print, under llama2.c's `run.c` rules, exactly the text HydraSim decodes.
@Suite("run.c decoding parity")
struct RunCParityTests {
    /// Runs `Tests/Reference/runc_decode.py` and returns the bytes run.c would print.
    static func runcDecode(tokenizer: String, ids: [Int], safePrintf: Bool = true) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let idsFile = FileManager.default.temporaryDirectory.appendingPathComponent("ids-\(UUID().uuidString).txt")
        try ids.map(String.init).joined(separator: " ").write(to: idsFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: idsFile) }
        process.arguments = ["bash", "-c", "python3 \"$0\" --tokenizer \"$1\" --ids \"$(cat \"$2\")\" \(safePrintf ? "" : "--no-safe-printf")",
                             TestPaths.root.appendingPathComponent("Tests/Reference/runc_decode.py").path, tokenizer, idsFile.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return data
    }

    @Test("the validation text of Tiny Shakespeare, encoded with a trained vocabulary, prints identically")
    func corpusParity() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = try String(contentsOfFile: TestPaths.corpus, encoding: .utf8)
        let (train, validation) = TrainingData.split(text)
        let tokenizer = try BPETokenizer.train(text: train, vocabularySize: 768)
        let path = folder.appendingPathComponent("tok.bin").path
        try tokenizer.write(to: path)
        let sample = String(validation.prefix(20_000))
        let ids = tokenizer.encode(sample, bos: true, eos: false)
        let printed = try Self.runcDecode(tokenizer: path, ids: ids)
        #expect(String(decoding: printed, as: UTF8.self) == sample)
        #expect(tokenizer.decode(ids) == sample)
    }

    @Test("every id, after BOS and after another token, prints the same bytes as HydraSim's pieceBytes")
    func everyPiece() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = try String(contentsOfFile: TestPaths.corpus, encoding: .utf8)
        let tokenizer = try BPETokenizer.train(text: String(text.prefix(200_000)) + " héllo wörld ünïcödé", vocabularySize: 512)
        let path = folder.appendingPathComponent("tok.bin").path
        try tokenizer.write(to: path)
        for previous in [1, 300] {
            // Interleave `previous` before every id so each id is decoded after it.
            let ids = ([0, 2] + Array(3..<tokenizer.vocabularySize)).flatMap { [previous, $0] }
            let printed = try Self.runcDecode(tokenizer: path, ids: ids, safePrintf: false)
            var ours: [UInt8] = []
            var prev = ids[0]
            for id in ids.dropFirst() {
                // run.c never prints BOS (generation stops there); here it does, so add its stored piece.
                ours += id == 1 ? tokenizer.pieces[1] : tokenizer.pieceBytes(id, after: prev)
                prev = id
            }
            #expect(Array(printed) == ours, "after \(previous)")
        }
    }
}
