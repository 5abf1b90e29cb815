/* HydraSim's forward kernels: matrix products of n row vectors against row-major fp32 weights
 * (each weight row read once for all n rows), tree attention over a KV cache without a mask
 * matrix, and a persistent pool of worker threads that runs them.
 *
 * Every output element is the same sequence of floating-point operations whatever the number of
 * rows n, the number of threads and the split of the work, so a batched pass gives exactly the
 * bits of n one-row passes. The variants (AVX-512, AVX2+FMA, portable) differ from one another. */
#ifndef HYDRAKERNELS_H
#define HYDRAKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Which micro-kernels a pool runs. */
typedef enum {
    HK_VARIANT_PORTABLE = 0, /* C vector extensions, baseline instructions, no FMA on x86-64 */
    HK_VARIANT_AVX2 = 1,     /* AVX2 + FMA + F16C, 4 weight rows x 3 input rows per register block */
    HK_VARIANT_AVX512 = 2,   /* AVX-512F, 8 weight rows x 1 input row or 6 x 4 per register block */
} hk_variant;

/** 1 when this CPU (and OS) can run `variant`. */
int hk_variant_supported(int variant);
/** The fastest variant this CPU runs. */
int hk_best_variant(void);

/** A persistent pool of `threads - 1` workers plus the calling thread. */
typedef struct hk_pool hk_pool;

/** A pool of `threads` threads (clamped to 1...64) running `variant` (an unsupported one falls back to
 * the best supported). Workers are pinned to distinct CPUs where the OS allows, unless `pin` is 0. */
hk_pool *hk_pool_create(int threads, int variant, int pin);
void hk_pool_destroy(hk_pool *pool);
int hk_pool_threads(const hk_pool *pool);
int hk_pool_variant(const hk_pool *pool);
/** Microseconds a worker waits for the next job before it sleeps (default 500: 50 spinning, then yielding). */
void hk_pool_set_spin(hk_pool *pool, int microseconds);

/** A job: `thread` in 0..<threads does its share. */
typedef void (*hk_job)(void *context, int thread, int threads);
/** Runs `job` on every thread of the pool and returns when all are done. When another caller is
 * using the pool at the same moment, runs `job(context, 0, 1)` on the calling thread instead. */
void hk_pool_run(hk_pool *pool, hk_job job, void *context);

/** One weight matrix of a fused product: `y[i * ldy + r] = dot(x row i, w row r)` for r < rows. */
typedef struct {
    const float *w; /* (rows, in) row-major */
    int rows;
    float *y;       /* (n, ldy) */
    int ldy;
} hk_segment;

/** Products of the n rows of `x` (n, ldx) with every weight row of every segment (all `in` wide):
 * the rows of all segments are split across the pool's threads, each weight row streamed once. */
void hk_matmul(hk_pool *pool, const float *x, int ldx, int n, int in, const hk_segment *segments, int count);

/** The same on the calling thread only, with an explicit variant (tests). */
void hk_matmul_serial(int variant, const float *x, int ldx, int n, int in, const float *w, int rows, float *y, int ldy);

/** One fp16 (IEEE half) weight matrix of a fused product (draft heads stored at half the bytes). */
typedef struct {
    const uint16_t *w; /* (rows, in) row-major, IEEE binary16 */
    int rows;
    float *y;          /* (n, ldy) */
    int ldy;
} hk_half_segment;

/** `hk_matmul` with fp16 weights: each weight is converted exactly to fp32, then the same accumulation as fp32 weights
 * of those values (so the result equals `hk_matmul` on the rounded weights, bit for bit, per variant). */
void hk_matmul_half(hk_pool *pool, const float *x, int ldx, int n, int in, const hk_half_segment *segments, int count);
void hk_matmul_half_serial(int variant, const float *x, int ldx, int n, int in, const uint16_t *w, int rows, float *y, int ldy);
/** An element-wise step a product applies to each chunk of outputs as soon as it is computed. */
typedef enum {
    HK_EPILOGUE_NONE = 0,
    /** One segment: out[i * ldo + r] += y[i * ldy + r] (a residual connection; y keeps the product). */
    HK_EPILOGUE_ADD = 1,
    /** Two segments of equal rows, gate then up: gate = gate * sigmoid(gate) * up, written over the gate's y (SwiGLU). */
    HK_EPILOGUE_SWIGLU = 2,
} hk_epilogue;

/** `hk_matmul` (or `hk_matmul_half`) with an epilogue; every element has the same bits whatever the split.
 * A segment list that does not fit the epilogue does nothing. */
void hk_matmul_epilogue(hk_pool *pool, const float *x, int ldx, int n, int in, const hk_segment *segments, int count,
                        int epilogue, float *out, int ldo);
void hk_matmul_half_epilogue(hk_pool *pool, const float *x, int ldx, int n, int in, const hk_half_segment *segments, int count,
                             int epilogue, float *out, int ldo);

/** `value` rounded to the nearest IEEE half (ties to even; overflow to infinity). */
uint16_t hk_float_to_half(float value);
/** `out[i] = hk_float_to_half(x[i])` for `count` values. */
void hk_to_half(const float *x, size_t count, uint16_t *out);

/** Attention of n query rows over a KV cache, one softmax per (row, head) over the visible slots only.
 * Row i sees slots 0..<shared_prefix and slot shared_prefix + j for every set bit j of its mask words
 * (j < columns - shared_prefix). */
typedef struct {
    const float *q;      /* (n, ldq) queries, heads * head_size used */
    int ldq;
    float *out;          /* (n, ldo) attention output, heads * head_size written */
    int ldo;
    const float *keys;   /* (columns, kv_stride) keys after RoPE */
    const float *values; /* (columns, kv_stride) */
    int kv_stride;
    int n, heads, kv_heads, head_size;
    int columns;         /* slots attended: cached prefix + new rows */
    int shared_prefix;   /* slots every row sees */
    const uint64_t *bits; /* (n, words_per_row) visibility of slots shared_prefix..<columns */
    int words_per_row;
    float scale;         /* 1 / sqrt(head_size) */
    float *scratch;      /* (threads, hk_attention_scratch(columns)) scores and slot lists, threads = hk_pool_threads */
} hk_attention_args;

/** Floats of scratch one thread needs for attention over `columns` slots. */
size_t hk_attention_scratch(int columns);

void hk_attention(hk_pool *pool, const hk_attention_args *args);

/** Seconds to stream `bytes` of a buffer once with the pool's threads (a read-only reduction), and
 * the FMA peak in GFLOP/s of the pool's variant: measurement helpers for the cost model. */
double hk_measure_stream(hk_pool *pool, const float *buffer, size_t count, int repeats);
double hk_measure_fma_peak(hk_pool *pool, int repeats);

#ifdef __cplusplus
}
#endif
#endif
