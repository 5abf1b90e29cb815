// Counts the heap allocations the calling thread makes between `hs_allocation_counting_begin` and
// `hs_allocation_counting_end` (tests only: a test asserts that decoding steps allocate nothing beyond their record).
//
// On Linux with glibc this target interposes malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign for
// the whole test process: each forwards to glibc's own implementation (__libc_malloc, ...) and, only while the
// calling thread has counting on, adds one to that thread's count. Elsewhere (and under a sanitizer, which brings
// its own allocator) nothing is interposed and `hs_allocation_counting_available` returns 0.
#ifndef HS_ALLOCATION_COUNTER_H
#define HS_ALLOCATION_COUNTER_H

/// 1 when allocations are counted on this platform (Linux with glibc), 0 otherwise.
int hs_allocation_counting_available(void);

/// Starts counting the calling thread's allocations from zero.
void hs_allocation_counting_begin(void);

/// Stops counting on the calling thread and returns how many allocations it made since `begin`.
long hs_allocation_counting_end(void);

#endif
