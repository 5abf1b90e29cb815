/* Measurements for the cost model: streaming a buffer once, and the FMA peak of a variant. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi" /* vector arguments of inlined helpers only */
#endif
#include "hydrakernels.h"
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_u __attribute__((vector_size(32), aligned(4)));

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Work is claimed in chunks from a shared counter (a worker may join a job late or not at all). */
typedef struct {
    const float *buffer;
    size_t count;
    float sink[64];
    int variant;
    long iterations;
    long chunk, chunks;
    _Atomic long next;
} measure_job;

#define INLINE static inline __attribute__((always_inline))

INLINE float stream_sum(const float *p, size_t count) {
    v8f a = {0}, b = {0}, c = {0}, d = {0};
    size_t k = 0;
    for (; k + 32 <= count; k += 32) {
        a = a + *(const v8f_u *)(p + k);
        b = b + *(const v8f_u *)(p + k + 8);
        c = c + *(const v8f_u *)(p + k + 16);
        d = d + *(const v8f_u *)(p + k + 24);
    }
    v8f s = (a + b) + (c + d);
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}
static float stream_portable(const float *p, size_t count) { return stream_sum(p, count); }
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float stream_avx2(const float *p, size_t count) { return stream_sum(p, count); }
#endif

static void stream_share(void *context, int thread, int threads) {
    (void)threads;
    measure_job *job = context;
    for (;;) {
        long c = atomic_fetch_add(&job->next, 1);
        if (c >= job->chunks) break;
        size_t lower = (size_t)(c * job->chunk), upper = lower + (size_t)job->chunk < job->count ? lower + (size_t)job->chunk : job->count;
#if defined(__x86_64__)
        if (job->variant != HK_VARIANT_PORTABLE) { job->sink[thread] += stream_avx2(job->buffer + lower, upper - lower); continue; }
#endif
        job->sink[thread] += stream_portable(job->buffer + lower, upper - lower);
    }
}

double hk_measure_stream(hk_pool *pool, const float *buffer, size_t count, int repeats) {
    measure_job job = {buffer, count, {0}, hk_pool_variant(pool), 0, 16384, 0, 0};
    job.chunks = (long)((count + 16383) / 16384);
    double best = 1e30;
    for (int r = 0; r < (repeats < 1 ? 1 : repeats); r++) {
        atomic_store(&job.next, 0);
        double start = now_seconds();
        hk_pool_run(pool, stream_share, &job);
        double t = now_seconds() - start;
        if (t < best) best = t;
    }
    return best;
}

/* 16 independent FMA chains per thread. */
static float fma_portable(long iterations) {
    v8f acc[16];
    for (int i = 0; i < 16; i++) acc[i] = (v8f){(float)i, 1, 1, 1, 1, 1, 1, 1};
    v8f m = {0.999f, 0.999f, 0.999f, 0.999f, 0.999f, 0.999f, 0.999f, 0.999f}, a = {1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f};
    for (long t = 0; t < iterations; t++)
        for (int i = 0; i < 16; i++) acc[i] = acc[i] * m + a;
    v8f s = {0};
    for (int i = 0; i < 16; i++) s = s + acc[i];
    return s[0];
}
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float fma_avx2(long iterations) {
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(1e-3f);
    for (long t = 0; t < iterations; t++)
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < 12; i++) s = _mm256_add_ps(s, acc[i]);
    return _mm256_cvtss_f32(s);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))) static float fma_avx512(long iterations) {
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
    __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-3f);
    for (long t = 0; t < iterations; t++)
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < 16; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}
#endif

static void fma_share(void *context, int thread, int threads) {
    (void)threads;
    measure_job *job = context;
    for (;;) {
        long c = atomic_fetch_add(&job->next, 1);
        if (c >= job->chunks) break;
#if defined(__x86_64__)
        if (job->variant == HK_VARIANT_AVX512) { job->sink[thread] += fma_avx512(job->chunk); continue; }
        if (job->variant == HK_VARIANT_AVX2) { job->sink[thread] += fma_avx2(job->chunk); continue; }
#endif
        job->sink[thread] += fma_portable(job->chunk);
    }
}

/* 64 chunks of 20000 iterations of 16 (or 12) independent FMAs. */
double hk_measure_fma_peak(hk_pool *pool, int repeats) {
    measure_job job = {0, 0, {0}, hk_pool_variant(pool), 64L * 20000, 20000, 64, 0};
    int variant = job.variant;
    double flopsPerIteration = variant == HK_VARIANT_AVX512 ? 16 * 16 * 2 : (variant == HK_VARIANT_AVX2 ? 12 * 8 * 2 : 16 * 8 * 2);
    double best = 0;
    for (int r = 0; r < (repeats < 1 ? 1 : repeats); r++) {
        atomic_store(&job.next, 0);
        double start = now_seconds();
        hk_pool_run(pool, fma_share, &job);
        double t = now_seconds() - start;
        double gflops = flopsPerIteration * (double)job.iterations / t / 1e9;
        if (gflops > best) best = gflops;
    }
    return best;
}
