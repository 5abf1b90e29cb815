// Test-only allocation counter: see include/CAllocationCounter.h.
#include "CAllocationCounter.h"

#include <errno.h>  // also defines __GLIBC__ on glibc
#include <stddef.h>

// Under a sanitizer, which replaces the allocator itself, nothing is interposed (the tests that count are skipped).
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define HS_UNDER_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HS_UNDER_SANITIZER 1
#endif

#if defined(__linux__) && defined(__GLIBC__) && !defined(HS_UNDER_SANITIZER)

// glibc's allocator under its internal names: what the interposed functions forward to.
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

// Per thread, so that tests running in parallel on other threads never add to a count.
static _Thread_local int counting;
static _Thread_local long allocations;

static inline void count_one(void) {
    if (counting) allocations += 1;
}

void *malloc(size_t size) {
    count_one();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    count_one();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    count_one();
    return __libc_realloc(pointer, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    // posix_memalign's own contract: a power of two multiple of sizeof(void *), else EINVAL (nothing allocated).
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count_one();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *out = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    count_one();
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    count_one();
    return __libc_memalign(alignment, size);
}

int hs_allocation_counting_available(void) { return 1; }

void hs_allocation_counting_begin(void) {
    allocations = 0;
    counting = 1;
}

long hs_allocation_counting_end(void) {
    counting = 0;
    return allocations;
}

#else

int hs_allocation_counting_available(void) { return 0; }
void hs_allocation_counting_begin(void) {}
long hs_allocation_counting_end(void) { return 0; }

#endif
