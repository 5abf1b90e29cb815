/// A contiguous, row-major block of `Float`s with a shape.
///
/// `Tensor` has reference semantics (it is a buffer, like a `Data` you can
/// write through a pointer): copying the reference shares the storage. Hot
/// loops take `pointer` and pass it straight to BLAS; nothing is allocated per
/// token.
public final class Tensor: @unchecked Sendable {
    /// Sizes of the dimensions, outermost first, e.g. `[T, C]`.
    public let shape: [Int]
    /// Number of elements (the product of `shape`).
    public let count: Int
    /// The storage: `count` floats, row-major.
    public let pointer: UnsafeMutablePointer<Float>

    /// A zero-filled tensor of the given shape.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor holding `values` with the given shape (`values.count` must equal the product of `shape`).
    public convenience init(shape: [Int], values: [Float]) {
        self.init(zeros: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor filled with `value`.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        pointer.update(repeating: value, count: count)
    }

    deinit { pointer.deallocate() }

    /// Element access by flat index (bounds-checked in debug builds).
    @inlinable public subscript(index: Int) -> Float {
        get { assert(index >= 0 && index < count); return pointer[index] }
        set { assert(index >= 0 && index < count); pointer[index] = newValue }
    }

    /// The elements as an array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Pointer to row `i` of the outermost dimension (e.g. layer `l` of an `(L, out, in)` stack).
    @inlinable public func slice(_ i: Int) -> UnsafeMutablePointer<Float> {
        pointer + i * (count / shape[0])
    }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// True when every element is finite; otherwise the index of the first NaN or infinity.
    public func firstNonFinite() -> Int? {
        for i in 0..<count where !pointer[i].isFinite { return i }
        return nil
    }
}
