import Foundation

/// A fixture loaded once, on first use. A missing or broken file fails the tests that use it, with the loader's
/// one-line error, instead of trapping in a static initializer (which would end the whole test run).
final class Loaded<Value>: @unchecked Sendable {
    private let result: Result<Value, any Error>
    init(_ load: () throws -> Value) { result = Result { try load() } }
    /// The value, or the error that loading it threw.
    func get() throws -> Value { try result.get() }
}
