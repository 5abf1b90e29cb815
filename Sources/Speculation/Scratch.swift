/// Memory for up to `capacity` plain values (`Int`, `Float`, `Float?`, `DraftNode`, ...) that a step rewrites every
/// time: grown on demand (contents not kept), never shrunk, so that steps after the first allocate nothing.
///
/// Owned by the reusable parts of a step (the verifier's workspace, proposers, the session); `buffer(count:)` hands
/// out views that stay valid until the next `reserve` that grows it.
final class ScratchBuffer<Element> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var capacity: Int
    /// What new memory is filled with (the elements are trivial, so any value can be overwritten or dropped).
    private let filler: Element

    init(capacity: Int = 0, filler: Element) {
        precondition(_isPOD(Element.self), "scratch holds trivial values only")
        self.filler = filler
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity)
        base.initialize(repeating: filler, count: self.capacity)
    }

    deinit { base.deallocate() }

    /// Makes room for `count` elements; when it grows, the old contents are dropped.
    func reserve(_ count: Int) {
        guard count > capacity else { return }
        base.deallocate()
        capacity = count
        base = .allocate(capacity: count)
        base.initialize(repeating: filler, count: count)
    }

    @inline(__always) subscript(i: Int) -> Element {
        get { base[i] }
        set { base[i] = newValue }
    }

    /// The first `count` elements as a read-only view (valid until the buffer grows).
    func buffer(count: Int) -> UnsafeBufferPointer<Element> {
        precondition(count <= capacity, "\(count) elements of a scratch buffer of \(capacity)")
        return UnsafeBufferPointer(start: base, count: count)
    }
}

/// A binary heap of indices in caller-owned memory, ordered by a strict total order `precedes` (ties broken by
/// index, so no two indices are equivalent): the top is the index that precedes every other.
///
/// Popping `k` times gives the first `k` indices in order (a partial selection in O(n + k log n), no allocation). Since
/// the order is total, the result is exactly that of a full stable sort followed by `prefix(k)`.
struct IndexHeap {
    let items: UnsafeMutablePointer<Int>
    /// Indices still in the heap: `items[0..<count]`; popped ones follow, most recently popped first.
    private(set) var count: Int

    /// Arranges `items[0..<count]` into a heap.
    init(_ items: UnsafeMutablePointer<Int>, count: Int, by precedes: (Int, Int) -> Bool) {
        self.items = items
        self.count = count
        var i = count / 2 - 1
        while i >= 0 { siftDown(i, by: precedes); i -= 1 }
    }

    /// Removes the top index and returns it; it is kept at `items[count]` (after the remaining heap).
    mutating func pop(by precedes: (Int, Int) -> Bool) -> Int {
        precondition(count > 0, "pop from an empty heap")
        let top = items[0]
        count -= 1
        items[0] = items[count]
        items[count] = top
        siftDown(0, by: precedes)
        return top
    }

    private func siftDown(_ start: Int, by precedes: (Int, Int) -> Bool) {
        var i = start
        while true {
            let left = 2 * i + 1, right = left + 1
            var first = i
            if left < count && precedes(items[left], items[first]) { first = left }
            if right < count && precedes(items[right], items[first]) { first = right }
            if first == i { return }
            let moved = items[i]
            items[i] = items[first]
            items[first] = moved
            i = first
        }
    }

    /// Sorts `items[0..<count]` so that its first `k` entries are the first `k` under `precedes`, in order (the rest in
    /// no particular order), in place. With `k = count` this is a full sort.
    static func sortFirst(_ k: Int, of items: UnsafeMutableBufferPointer<Int>, by precedes: (Int, Int) -> Bool) {
        guard let base = items.baseAddress, items.count > 1 else { return }
        let n = items.count
        var heap = IndexHeap(base, count: n, by: precedes)
        for _ in 0..<min(k, n) { _ = heap.pop(by: precedes) }
        // The popped indices sit at n-1, n-2, ... in order: reversing puts them first.
        var reversed = items
        reversed.reverse()
    }
}
