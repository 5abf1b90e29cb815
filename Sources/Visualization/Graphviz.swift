import CGraphviz
import Foundation

/// What Graphviz can render to.
public enum RenderFormat: String, CaseIterable, Sendable {
    case svg, png, pdf

    /// The `-T` name libgvc is asked for (PNG and PDF through cairo).
    var device: String {
        switch self {
        case .svg: "svg"
        case .png: "png:cairo"
        case .pdf: "pdf:cairo"
        }
    }
}

/// Graphviz refused a graph: its own message, on one line.
public struct GraphvizError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "Graphviz: \(message)" }
    public var errorDescription: String? { description }
}

/// Messages Graphviz reports while the renderer's lock is held (its error hook is a process-wide C function).
nonisolated(unsafe) private var graphvizMessages: [String] = []

/// Receives Graphviz's errors and warnings (installed with `agseterrf`).
private func collectGraphvizMessage(_ message: UnsafeMutablePointer<CChar>?) -> Int32 {
    if let message { graphvizMessages.append(String(cString: message)) }
    return 0
}

// MARK: Deterministic object IDs

/// Graphviz's default ID discipline uses the address of an object's interned name as its ID, and orders
/// subgraphs by ID: cluster order, and so the layout, then depend on where malloc put the names, and the same DOT
/// renders differently from one call to the next. This discipline numbers names in the order they are first seen.
final class NameTable {
    var ids: [String: IDTYPE] = [:]
    var names: [IDTYPE: UnsafeMutablePointer<CChar>] = [:]
    var nextAnonymous: IDTYPE = 1
    /// Tables alive (opened by a graph and not yet closed): 0 between renders, or a graph was not freed.
    nonisolated(unsafe) static var live = 0

    init() { Self.live += 1 }
    deinit {
        for name in names.values { free(name) }
        Self.live -= 1
    }
}

private func idOpen(_ graph: UnsafeMutablePointer<Agraph_t>?, _ disc: UnsafeMutablePointer<Agdisc_t>?) -> UnsafeMutableRawPointer? {
    Unmanaged.passRetained(NameTable()).toOpaque()
}

private func idMap(_ state: UnsafeMutableRawPointer?, _ kind: Int32, _ name: UnsafeMutablePointer<CChar>?, _ id: UnsafeMutablePointer<IDTYPE>?,
                   _ create: Int32) -> Int {
    guard let state, let id else { return 0 }
    let table = Unmanaged<NameTable>.fromOpaque(state).takeUnretainedValue()
    guard let name else {
        // Anonymous objects: odd IDs (as Graphviz's own discipline), counted per graph.
        id.pointee = table.nextAnonymous
        table.nextAnonymous += 2
        return 1
    }
    let key = String(cString: name)
    if let known = table.ids[key] {
        id.pointee = known
        return 1
    }
    guard create != 0 else { return 0 }
    // Named objects: even IDs (Graphviz prints a name only for even IDs).
    let new = IDTYPE(2 * (table.ids.count + 1))
    table.ids[key] = new
    table.names[new] = strdup(name)
    id.pointee = new
    return 1
}

private func idAlloc(_ state: UnsafeMutableRawPointer?, _ kind: Int32, _ id: IDTYPE) -> Int { 0 }
private func idFree(_ state: UnsafeMutableRawPointer?, _ kind: Int32, _ id: IDTYPE) {}
private func idPrint(_ state: UnsafeMutableRawPointer?, _ kind: Int32, _ id: IDTYPE) -> UnsafeMutablePointer<CChar>? {
    guard let state, id % 2 == 0 else { return nil }
    return Unmanaged<NameTable>.fromOpaque(state).takeUnretainedValue().names[id]
}
private func idClose(_ state: UnsafeMutableRawPointer?) {
    if let state { Unmanaged<NameTable>.fromOpaque(state).release() }
}
private func idRegister(_ state: UnsafeMutableRawPointer?, _ kind: Int32, _ object: UnsafeMutableRawPointer?) {}

/// DOT text being parsed: handed to Graphviz's lexer a line at a time (as `agmemread` does).
private final class DOTReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ text: String) { bytes = Array(text.utf8) }
}

private func readDOT(_ channel: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32) -> Int32 {
    guard let channel, let buffer, size > 0 else { return 0 }
    let reader = Unmanaged<DOTReader>.fromOpaque(channel).takeUnretainedValue()
    var n = 0
    while reader.offset < reader.bytes.count && n < Int(size) {
        let byte = reader.bytes[reader.offset]
        buffer[n] = CChar(bitPattern: byte)
        reader.offset += 1
        n += 1
        if byte == UInt8(ascii: "\n") { break }
    }
    return Int32(n)
}

/// Output to a `FILE *` channel, as Graphviz's own I/O discipline (not used when reading).
private func writeDOT(_ channel: UnsafeMutableRawPointer?, _ text: UnsafePointer<CChar>?) -> Int32 {
    guard let channel, let text else { return EOF }
    return fputs(text, channel.assumingMemoryBound(to: FILE.self))
}
private func flushDOT(_ channel: UnsafeMutableRawPointer?) -> Int32 {
    guard let channel else { return EOF }
    return fflush(channel.assumingMemoryBound(to: FILE.self))
}

/// The disciplines for `agread`: deterministic IDs, DOT from memory, Graphviz's own allocator and output.
/// Allocated once: a graph keeps pointers to them until it is closed.
nonisolated(unsafe) private let deterministicDisc: UnsafeMutablePointer<Agdisc_t> = {
    let ids = UnsafeMutablePointer<Agiddisc_t>.allocate(capacity: 1)
    ids.initialize(to: Agiddisc_t(open: idOpen, map: idMap, alloc: idAlloc, free: idFree, print: idPrint, close: idClose,
                                  idregister: idRegister))
    let io = UnsafeMutablePointer<Agiodisc_t>.allocate(capacity: 1)
    io.initialize(to: Agiodisc_t(afread: readDOT, putstr: writeDOT, flush: flushDOT))
    let disc = UnsafeMutablePointer<Agdisc_t>.allocate(capacity: 1)
    disc.initialize(to: Agdisc_t(mem: nil, id: ids, io: io))
    return disc
}()

/// A thin, synchronous, throwing wrapper over libgvc: DOT text in, SVG/PNG/PDF bytes out.
///
/// One `GVC_t` context is shared per process (`shared`): creating a context per render reloads the plugin
/// configuration each time and leaks more (BENCHMARKS.md). Graphviz is not thread-safe, so every render in the
/// process is serialised by one lock. Every graph, layout and render buffer is freed before `render` returns,
/// on success and on failure.
public final class GraphvizRenderer: @unchecked Sendable {
    /// The process-wide renderer (one context for the life of the process).
    public static let shared = GraphvizRenderer(freshContextPerRender: false)

    /// Serialises all use of libgvc and of the error hook.
    private static let lock = NSLock()
    private let context: OpaquePointer?
    /// When true, each render creates and frees its own context (for measuring the leak; slower).
    public let freshContextPerRender: Bool

    public init(freshContextPerRender: Bool) {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        _ = agseterrf(collectGraphvizMessage)
        self.freshContextPerRender = freshContextPerRender
        context = freshContextPerRender ? nil : gvContext()
    }

    deinit {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let context { gvFreeContext(context) }
    }

    /// Lays `dot` out with `engine` (default `dot`) and renders it to `format`.
    /// Throws `GraphvizError` with Graphviz's own message when the text does not parse or cannot be laid out.
    public func render(_ dot: String, format: RenderFormat, engine: String = "dot") throws -> Data {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        graphvizMessages = []
        guard let context = context ?? gvContext() else { throw GraphvizError("cannot create a Graphviz context") }
        defer { if self.context == nil { gvFreeContext(context) } }
        func failure(_ fallback: String) -> GraphvizError {
            // "Error: syntax error in line 1 near '}'" and its continuation lines, as one line without the prefix.
            var text = graphvizMessages.joined(separator: " ").split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
            if let prefix = text.range(of: #"^(Error|Warning) ?: ?"#, options: .regularExpression) { text.removeSubrange(prefix) }
            graphvizMessages = []
            return GraphvizError(text.isEmpty ? fallback : text)
        }
        let reader = DOTReader(dot)
        let parsed = withExtendedLifetime(reader) { agread(Unmanaged.passUnretained(reader).toOpaque(), deterministicDisc) }
        guard let graph = parsed else {
            throw failure("the DOT text is not a graph (empty input?)")
        }
        defer { agclose(graph) }
        guard gvLayout(context, graph, engine) == 0 else { throw failure("layout with engine \(engine) failed") }
        defer { gvFreeLayout(context, graph) }
        var buffer: UnsafeMutablePointer<CChar>?
        var length: UInt32 = 0
        guard gvRenderData(context, graph, format.device, &buffer, &length) == 0, let buffer else {
            throw failure("rendering to \(format.rawValue) failed")
        }
        defer { gvFreeRenderData(buffer) }
        graphvizMessages = []
        return Data(bytes: buffer, count: Int(length))
    }

    /// Graphs read and not yet closed (read under the render lock): 0 unless a render leaked its graph.
    static func openGraphs() -> Int {
        lock.lock()
        defer { lock.unlock() }
        return NameTable.live
    }

    /// Renders to a string (SVG).
    public func svg(_ dot: String) throws -> String {
        String(decoding: try render(dot, format: .svg), as: UTF8.self)
    }
}

/// The process's memory, for leak measurements.
public enum ProcessMemory {
    /// Bytes malloc has handed out and not had back (glibc `mallinfo2`: `uordblks + hblkhd`): grows only with what is
    /// still allocated, unlike the resident size, which also holds freed memory malloc keeps for reuse.
    public static func heapInUseBytes() -> Int {
        let info = mallinfo2()
        return Int(info.uordblks) + Int(info.hblkhd)
    }

    /// Resident set size in bytes (from `/proc/self/statm`), or nil where that file does not exist.
    public static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
