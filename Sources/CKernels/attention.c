/* Tree attention over a KV cache: for each (row, head), scores over the visible slots only (the shared
 * prefix, then the slots whose mask bit is set, in slot order), a softmax over that compact list, and
 * the weighted sum of the visible values in the same order. A row's result depends only on its query,
 * the visible keys and values and their order: not on n, on the other rows or on the thread count. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi" /* vector arguments of inlined helpers only */
#endif
#include "hydrakernels.h"
#include "vecmath.h"
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float sum8(v8f a) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }

/* In-place softmax over m scores (m >= 1); s has room for m rounded up to 8. */
INLINE void softmax(float *s, int m) {
    /* The maximum, eight lanes at a time (exact in any order). */
    v8f lanes = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int whole = m / 8 * 8;
    for (int j = 0; j < whole; j += 8) {
        v8f v = *(v8f_u *)(s + j);
        lanes = blend8(v > lanes, v, lanes);
    }
    float top = -INFINITY;
    for (int j = 0; j < 8; j++) top = lanes[j] > top ? lanes[j] : top;
    for (int j = whole; j < m; j++) top = s[j] > top ? s[j] : top;
    if (top == -INFINITY) top = 0;
    v8f sums = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= m; j += 8) {
        v8f e = exp8(*(v8f_u *)(s + j) - top);
        *(v8f_u *)(s + j) = e;
        sums = sums + e;
    }
    if (j < m) {
        v8f tail = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
        for (int t = 0; j + t < m; t++) tail[t] = s[j + t] - top;
        v8f e = exp8(tail);
        for (int t = 0; j + t < m; t++) s[j + t] = e[t];
        sums = sums + e;
    }
    float inv = 1 / sum8(sums);
    for (j = 0; j + 8 <= m; j += 8) *(v8f_u *)(s + j) = *(v8f_u *)(s + j) * inv;
    for (; j < m; j++) s[j] = s[j] * inv;
}

/* The sums of eight 8-lane accumulators in one fixed tree per accumulator: lanes (i, i+4), (i, i+2),
 * (i, i+1); result lane j holds accumulator j's sum. */
INLINE v8f reduce8(v8f a0, v8f a1, v8f a2, v8f a3, v8f a4, v8f a5, v8f a6, v8f a7) {
    v8f t01 = __builtin_shufflevector(a0, a1, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(a0, a1, 4, 5, 6, 7, 12, 13, 14, 15);
    v8f t23 = __builtin_shufflevector(a2, a3, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(a2, a3, 4, 5, 6, 7, 12, 13, 14, 15);
    v8f t45 = __builtin_shufflevector(a4, a5, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(a4, a5, 4, 5, 6, 7, 12, 13, 14, 15);
    v8f t67 = __builtin_shufflevector(a6, a7, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(a6, a7, 4, 5, 6, 7, 12, 13, 14, 15);
    v8f u0 = __builtin_shufflevector(t01, t23, 0, 1, 4, 5, 8, 9, 12, 13) + __builtin_shufflevector(t01, t23, 2, 3, 6, 7, 10, 11, 14, 15);
    v8f u1 = __builtin_shufflevector(t45, t67, 0, 1, 4, 5, 8, 9, 12, 13) + __builtin_shufflevector(t45, t67, 2, 3, 6, 7, 10, 11, 14, 15);
    return __builtin_shufflevector(u0, u1, 0, 2, 4, 6, 8, 10, 12, 14) + __builtin_shufflevector(u0, u1, 1, 3, 5, 7, 9, 11, 13, 15);
}

/* scores[t] = dot(q, key of slots[t]) * scale for t < m, eight slots at a time (the list is padded to a
 * multiple of 8 with its last slot; the padding's scores are written and ignored). Every score is the
 * same operations: 8-lane products over the head in order, the fixed tree, then the tail in order. */
INLINE void key_scores(const float *q, const float *keys, int stride, const int *slots, int m, int hs, float scale, float *scores) {
    const int whole = hs / 8 * 8;
    for (int t = 0; t < m; t += 8) {
        const float *k[8];
        for (int j = 0; j < 8; j++) k[j] = keys + (size_t)slots[t + j] * stride;
        v8f a[8];
        for (int j = 0; j < 8; j++) a[j] = (v8f){0, 0, 0, 0, 0, 0, 0, 0};
        for (int d = 0; d < whole; d += 8) {
            v8f qv = *(const v8f_u *)(q + d);
            for (int j = 0; j < 8; j++) a[j] = a[j] + qv * *(const v8f_u *)(k[j] + d);
        }
        v8f sums = reduce8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
        for (int j = 0; j < 8; j++) {
            float sum = sums[j];
            for (int d = whole; d < hs; d++) sum = sum + q[d] * k[j][d];
            scores[t + j] = sum * scale;
        }
    }
}

/* key_scores for two query heads over the same keys, each key row loaded once: every score is the same operations
 * as key_scores computes it. */
INLINE void key_scores2(const float *q0, const float *q1, const float *keys, int stride, const int *slots, int m, int hs, float scale,
                        float *scores0, float *scores1) {
    const int whole = hs / 8 * 8;
    for (int t = 0; t < m; t += 8) {
        const float *k[8];
        for (int j = 0; j < 8; j++) k[j] = keys + (size_t)slots[t + j] * stride;
        v8f a[8], b[8];
        for (int j = 0; j < 8; j++) a[j] = b[j] = (v8f){0, 0, 0, 0, 0, 0, 0, 0};
        for (int d = 0; d < whole; d += 8) {
            v8f qa = *(const v8f_u *)(q0 + d), qb = *(const v8f_u *)(q1 + d);
            for (int j = 0; j < 8; j++) {
                v8f kv = *(const v8f_u *)(k[j] + d);
                a[j] = a[j] + qa * kv;
                b[j] = b[j] + qb * kv;
            }
        }
        v8f sa = reduce8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
        v8f sb = reduce8(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
        for (int j = 0; j < 8; j++) {
            float x = sa[j], y = sb[j];
            for (int d = whole; d < hs; d++) { x = x + q0[d] * k[j][d]; y = y + q1[d] * k[j][d]; }
            scores0[t + j] = x * scale;
            scores1[t + j] = y * scale;
        }
    }
}

/* Each thread's scratch: (columns + 8) scores, (columns + 8) slot indices, then (columns + 8) scores of a
 * second query head sharing the key/value head. */
#define SCRATCH_STRIDE(columns) (3 * (size_t)(columns) + 24)

size_t hk_attention_scratch(int columns) { return columns > 0 ? SCRATCH_STRIDE(columns) : 24; }

/* out_h[k] = sum over t in order of p_h[t] v_t[k] for one or two query heads sharing the values, 8 columns
 * per register: with two heads and 32 columns, 8 independent chains (each element still one chain in t). */
INLINE void weighted_values(const float *values, int stride, const int *slots, int m, int hs,
                            const float *p0, const float *p1, float *out0, float *out1) {
    int k = 0;
    for (; k + 32 <= hs; k += 32) {
        v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
        for (int t = 0; t < m; t++) {
            const float *v = values + (size_t)slots[t] * stride + k;
            v8f v0 = *(const v8f_u *)v, v1 = *(const v8f_u *)(v + 8), v2 = *(const v8f_u *)(v + 16), v3 = *(const v8f_u *)(v + 24);
            float s = p0[t];
            a0 = a0 + s * v0; a1 = a1 + s * v1; a2 = a2 + s * v2; a3 = a3 + s * v3;
            if (p1) {
                float u = p1[t];
                b0 = b0 + u * v0; b1 = b1 + u * v1; b2 = b2 + u * v2; b3 = b3 + u * v3;
            }
        }
        *(v8f_u *)(out0 + k) = a0; *(v8f_u *)(out0 + k + 8) = a1; *(v8f_u *)(out0 + k + 16) = a2; *(v8f_u *)(out0 + k + 24) = a3;
        if (p1) { *(v8f_u *)(out1 + k) = b0; *(v8f_u *)(out1 + k + 8) = b1; *(v8f_u *)(out1 + k + 16) = b2; *(v8f_u *)(out1 + k + 24) = b3; }
    }
    for (; k + 8 <= hs; k += 8) {
        v8f a = {0}, b = {0};
        for (int t = 0; t < m; t++) {
            v8f v = *(const v8f_u *)(values + (size_t)slots[t] * stride + k);
            a = a + p0[t] * v;
            if (p1) b = b + p1[t] * v;
        }
        *(v8f_u *)(out0 + k) = a;
        if (p1) *(v8f_u *)(out1 + k) = b;
    }
    for (; k < hs; k++) {
        float a = 0, b = 0;
        for (int t = 0; t < m; t++) {
            float v = values[(size_t)slots[t] * stride + k];
            a = a + p0[t] * v;
            if (p1) b = b + p1[t] * v;
        }
        out0[k] = a;
        if (p1) out1[k] = b;
    }
}

/* One task is a (row, key/value head): its visible slots are listed once, then the query heads of the group
 * go two at a time through scores, softmax and the weighted sum of the values they share. */
INLINE void attention_tasks(const hk_attention_args *a, long first, long last, float *scratch) {
    const int hs = a->head_size, group = a->heads / a->kv_heads;
    const int tail = a->columns - a->shared_prefix;
    float *scores0 = scratch, *scores1 = scratch + 2 * (size_t)a->columns + 16;
    int *slots = (int *)(scratch + a->columns + 8); /* (columns + 8) the visible slots of the current row, in order */
    for (long task = first; task < last; task++) {
        int i = (int)(task / a->kv_heads), g = (int)(task % a->kv_heads);
        const float *keys = a->keys + (size_t)g * hs, *values = a->values + (size_t)g * hs;
        const uint64_t *rowBits = a->bits + (size_t)i * a->words_per_row;
        int m = 0;
        for (int j = 0; j < a->shared_prefix; j++) slots[m++] = j;
        for (int w = 0; w < a->words_per_row; w++) {
            for (uint64_t b = rowBits[w]; b; b &= b - 1) {
                int j = w * 64 + __builtin_ctzll(b);
                if (j >= tail) break;
                slots[m++] = a->shared_prefix + j;
            }
        }
        for (int h = g * group; h < (g + 1) * group; h += 2) {
            int pair = h + 1 < (g + 1) * group;
            const float *q0 = a->q + (size_t)i * a->ldq + (size_t)h * hs;
            float *out0 = a->out + (size_t)i * a->ldo + (size_t)h * hs;
            if (m == 0) {
                for (int k = 0; k < hs * (1 + pair); k++) out0[k] = 0;
                continue;
            }
            for (int t = m; t % 8 != 0; t++) slots[t] = slots[m - 1];
            if (pair) {
                key_scores2(q0, q0 + hs, keys, a->kv_stride, slots, m, hs, a->scale, scores0, scores1);
                softmax(scores0, m);
                softmax(scores1, m);
            } else {
                key_scores(q0, keys, a->kv_stride, slots, m, hs, a->scale, scores0);
                softmax(scores0, m);
            }
            weighted_values(values, a->kv_stride, slots, m, hs, scores0, pair ? scores1 : NULL, out0, out0 + hs);
        }
    }
}

static void tasks_portable(const hk_attention_args *a, long first, long last, float *scores) {
    attention_tasks(a, first, last, scores);
}
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void tasks_avx2(const hk_attention_args *a, long first, long last, float *scores) {
    attention_tasks(a, first, last, scores);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))) static void
tasks_avx512(const hk_attention_args *a, long first, long last, float *scores) {
    attention_tasks(a, first, last, scores);
}
#endif

typedef struct {
    const hk_attention_args *args;
    void (*tasks)(const hk_attention_args *, long, long, float *);
    long total, chunk;
    _Atomic long next; /* the next task to claim */
} attention_job;

/* Threads claim (row, head) tasks from a shared counter; each task is computed whole by one thread. */
static void attention_share(void *context, int thread, int threads) {
    (void)threads;
    attention_job *job = context;
    float *scratch = job->args->scratch + (size_t)thread * SCRATCH_STRIDE(job->args->columns);
    for (;;) {
        long first = atomic_fetch_add_explicit(&job->next, job->chunk, memory_order_relaxed);
        if (first >= job->total) break;
        long last = first + job->chunk < job->total ? first + job->chunk : job->total;
        job->tasks(job->args, first, last, scratch);
    }
}

void hk_attention(hk_pool *pool, const hk_attention_args *args) {
    if (!args || args->n <= 0 || args->heads <= 0 || args->kv_heads <= 0 || args->heads % args->kv_heads != 0 ||
        args->columns <= 0 || args->head_size <= 0 || args->shared_prefix < 0 || args->shared_prefix > args->columns)
        return;
    attention_job job;
    job.args = args;
    job.tasks = tasks_portable;
#if defined(__x86_64__)
    int variant = hk_pool_variant(pool);
    if (variant == HK_VARIANT_AVX512) job.tasks = tasks_avx512;
    else if (variant == HK_VARIANT_AVX2) job.tasks = tasks_avx2;
#endif
    job.total = (long)args->n * args->kv_heads;
    long work = (long)args->n * args->heads * args->columns * args->head_size;
    if (work < 16384 || hk_pool_threads(pool) == 1) {
        job.tasks(args, 0, job.total, args->scratch);
        return;
    }
    long chunk = job.total / (4L * hk_pool_threads(pool));
    job.chunk = chunk < 1 ? 1 : chunk;
    atomic_init(&job.next, 0);
    hk_pool_run(pool, attention_share, &job);
}
