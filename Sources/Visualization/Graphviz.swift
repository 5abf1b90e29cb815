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
        guard let graph = dot.withCString({ agmemread($0) }) else {
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

    /// Renders to a string (SVG).
    public func svg(_ dot: String) throws -> String {
        String(decoding: try render(dot, format: .svg), as: UTF8.self)
    }
}

/// The process's resident memory, for leak measurements.
public enum ProcessMemory {
    /// Resident set size in bytes (from `/proc/self/statm`), or nil where that file does not exist.
    public static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
