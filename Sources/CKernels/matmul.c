/* Matrix products of n row vectors against row-major fp32 weights, and the CPU check.
 *
 * Each output element y[i][r] = dot(x_i, w_r) is one accumulator register (16 lanes on AVX-512, 8 on
 * AVX2 and portable) updated in order k = 0, W, 2W, ... with one FMA per chunk (a masked load for the
 * tail), then reduced across lanes in a fixed order. A register block holds R weight rows x C input
 * rows of such accumulators; how many rows share a block changes how often a weight row is re-read
 * from L1, never the sequence of operations of an element. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi" /* vector arguments of inlined helpers only */
#endif
#include "hydrakernels.h"
#include "vecmath.h"
#include <stdatomic.h>
#include <string.h>
#include <math.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

static unsigned long long read_xcr0(void) {
    unsigned eax, edx;
    __asm__ __volatile__("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

/* cpuid + xgetbv (what __builtin_cpu_supports reads, without needing libgcc's __cpu_model). */
static int detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return HK_VARIANT_PORTABLE;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return HK_VARIANT_PORTABLE;
    unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 6) != 6) return HK_VARIANT_PORTABLE;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return HK_VARIANT_PORTABLE;
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    if (avx512f && avx512bw && avx512vl && fma && f16c && (xcr0 & 0xE6) == 0xE6) return HK_VARIANT_AVX512;
    if (avx2 && fma && f16c) return HK_VARIANT_AVX2;
    return HK_VARIANT_PORTABLE;
}
#else
static int detect(void) { return HK_VARIANT_PORTABLE; }
#endif

int hk_best_variant(void) {
    static int best = -1;
    if (best < 0) best = detect();
    return best;
}

int hk_variant_supported(int variant) {
    return variant >= HK_VARIANT_PORTABLE && variant <= hk_best_variant();
}

/* ---------------------------------------------------------------- portable: 8 lanes, no FMA on x86-64 */


static inline float sum8(v8f a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* IEEE half to float (exact: every half is a float). */
static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) bits = sign | 0x7F800000 | (mantissa << 13);
    else if (exponent != 0) bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    else if (mantissa == 0) bits = sign;
    else { /* subnormal: normalise */
        int e = -1;
        do { e++; mantissa <<= 1; } while (!(mantissa & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mantissa & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t hk_float_to_half(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    uint32_t sign = (bits >> 16) & 0x8000, exponent = (bits >> 23) & 0xFF, mantissa = bits & 0x7FFFFF;
    if (exponent == 0xFF) return (uint16_t)(sign | 0x7C00 | (mantissa ? 0x200 | (mantissa >> 13) : 0)); /* inf, NaN */
    int e = (int)exponent - 127 + 15;
    if (e >= 0x1F) return (uint16_t)(sign | 0x7C00); /* too large: inf */
    if (e <= 0) {
        /* subnormal half (or zero): shift the full significand, round to nearest even */
        if (e < -10) return (uint16_t)sign;
        uint32_t m = mantissa | 0x800000;
        int shift = 14 - e;
        uint32_t half = m >> shift, rest = m & ((1u << shift) - 1), midpoint = 1u << (shift - 1);
        if (rest > midpoint || (rest == midpoint && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = (uint32_t)e << 10 | (mantissa >> 13), rest = mantissa & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++; /* a carry into the exponent is still right */
    return (uint16_t)(sign | half);
}

void hk_to_half(const float *x, size_t count, uint16_t *out) {
    for (size_t i = 0; i < count; i++) out[i] = hk_float_to_half(x[i]);
}

/* The weight of row `wr` at column k: fp32 rows, or fp16 rows when `half` (converted exactly). */
#define WEIGHT_AT(wr, k, half) ((half) ? half_to_float(((const uint16_t *)(wr))[k]) : ((const float *)(wr))[k])

static inline __attribute__((always_inline)) void
rows_portable_impl(const float *x, int ldx, int n, int in, const void *w, int rows, float *y, int ldy, const int half) {
    const size_t size = half ? 2 : 4;
    for (int r = 0; r < rows; r++) {
        const char *wr = (const char *)w + (size_t)r * in * size;
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * ldx;
            v8f acc = {0, 0, 0, 0, 0, 0, 0, 0};
            int k = 0;
            for (; k + 8 <= in; k += 8) {
                v8f wv, xv = *(const v8f_u *)(xi + k);
                if (half) for (int t = 0; t < 8; t++) wv[t] = WEIGHT_AT(wr, k + t, 1);
                else wv = *(const v8f_u *)((const float *)wr + k);
                acc = acc + wv * xv;
            }
            if (k < in) {
                v8f wv = {0, 0, 0, 0, 0, 0, 0, 0}, xv = wv;
                for (int t = 0; k + t < in; t++) { wv[t] = WEIGHT_AT(wr, k + t, half); xv[t] = xi[k + t]; }
                acc = acc + wv * xv;
            }
            y[(size_t)i * ldy + r] = sum8(acc);
        }
    }
}

static void rows_portable(const float *x, int ldx, int n, int in, const void *w, int rows, float *y, int ldy) {
    rows_portable_impl(x, ldx, n, in, w, rows, y, ldy, 0);
}
static void rows_portable_half(const float *x, int ldx, int n, int in, const void *w, int rows, float *y, int ldy) {
    rows_portable_impl(x, ldx, n, in, w, rows, y, ldy, 1);
}

#if defined(__x86_64__)
/* ---------------------------------------------------------------- AVX2 + FMA: 4 x 3 blocks of ymm
 * (12 accumulators, 3 inputs and one weight register: all 16 ymm; measured 10-20 % faster than 4 x 2 for
 * n = 3...64 on this machine's AVX2 path)
 * Every block has 4 weight rows (a block past the last row repeats the last row and drops its results),
 * so every output element goes through the same 4-accumulator reduction tree. */

#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))

/* The sums of four 8-lane accumulators, in one fixed tree: lanes (i, i+4), then (i, i+2), then (i, i+1). */
TARGET_AVX2 static inline __attribute__((always_inline)) __m128 reduce4_avx2(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
    __m256 u = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    __m256 v = _mm256_add_ps(u, _mm256_permute_ps(u, _MM_SHUFFLE(2, 3, 0, 1)));
    /* lanes 0, 4, 2, 6 hold a, b, c, d */
    return _mm256_castps256_ps128(_mm256_permutevar8x32_ps(v, _mm256_setr_epi32(0, 4, 2, 6, 0, 0, 0, 0)));
}

/* Eight weights of row `w` from column k: fp32, or fp16 converted exactly (F16C) when `half`. */
TARGET_AVX2 static inline __attribute__((always_inline)) __m256 load8_avx2(const void *w, int k, const int half) {
    if (half) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + k)));
    return _mm256_loadu_ps((const float *)w + k);
}

TARGET_AVX2 static inline __attribute__((always_inline)) __m256 load8_tail_avx2(const void *w, int k, int left, __m256i mask, const int half) {
    if (half) {
        uint16_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int j = 0; j < left; j++) t[j] = ((const uint16_t *)w)[k + j];
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)t));
    }
    return _mm256_maskload_ps((const float *)w + k, mask);
}

TARGET_AVX2 static inline __attribute__((always_inline)) void
block_avx2(const float *x, int ldx, int in, const void *const *w, const void *const *ahead, float *y, int ldy, int valid,
           const int C, const int half) {
    const size_t size = half ? 2 : 4;
    __m256 acc[4][3];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= in; k += 8) {
        __m256 xv[3];
        for (int c = 0; c < C; c++) xv[c] = _mm256_loadu_ps(x + (size_t)c * ldx + k);
        if (ahead && (k * size) % 64 == 0)
            for (int r = 0; r < 4; r++) _mm_prefetch((const char *)ahead[r] + k * size, _MM_HINT_T1);
        for (int r = 0; r < 4; r++) {
            __m256 wv = load8_avx2(w[r], k, half);
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    if (k < in) {
        int left = in - k;
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 xv[3];
        for (int c = 0; c < C; c++) xv[c] = _mm256_maskload_ps(x + (size_t)c * ldx + k, mask);
        for (int r = 0; r < 4; r++) {
            __m256 wv = load8_tail_avx2(w[r], k, left, mask, half);
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    for (int c = 0; c < C; c++) {
        __m128 sums = reduce4_avx2(acc[0][c], acc[1][c], acc[2][c], acc[3][c]);
        if (valid == 4) _mm_storeu_ps(y + (size_t)c * ldy, sums);
        else {
            float t[4];
            _mm_storeu_ps(t, sums);
            for (int r = 0; r < valid; r++) y[(size_t)c * ldy + r] = t[r];
        }
    }
}

TARGET_AVX2 static inline __attribute__((always_inline)) void
rows_avx2_impl(const float *x, int ldx, int n, int in, const void *w, int rows, float *y, int ldy, const int half) {
    const size_t size = half ? 2 : 4;
    for (int r = 0; r < rows; r += 4) {
        const void *wr[4], *next[4];
        for (int j = 0; j < 4; j++) wr[j] = (const char *)w + (size_t)(r + j < rows ? r + j : rows - 1) * in * size;
        for (int j = 0; j < 4; j++) next[j] = (const char *)w + (size_t)(r + 16 + j < rows ? r + 16 + j : rows - 1) * in * size;
        const void *const *ahead = r + 16 < rows ? next : NULL; /* 4 blocks ahead into L2, first pass only */
        int valid = rows - r < 4 ? rows - r : 4;
        int i = 0;
        for (; i + 3 <= n; i += 3, ahead = NULL)
            block_avx2(x + (size_t)i * ldx, ldx, in, wr, ahead, y + (size_t)i * ldy + r, ldy, valid, 3, half);
        if (n - i == 2) block_avx2(x + (size_t)i * ldx, ldx, in, wr, ahead, y + (size_t)i * ldy + r, ldy, valid, 2, half);
        else if (n - i == 1) block_avx2(x + (size_t)i * ldx, ldx, in, wr, ahead, y + (size_t)i * ldy + r, ldy, valid, 1, half);
    }
}

TARGET_AVX2 static void rows_avx2(const float *x, int ldx, int n, int in, const void *w, int rows, float *y, int ldy) {
    rows_avx2_impl(x, ldx, n, in, w, rows, y, ldy, 0);
}
TARGET_AVX2 static void rows_avx2_half(const float *x, int ldx, int n, int in, const void *w, int rows, float *y, int ldy) {
    rows_avx2_impl(x, ldx, n, in, w, rows, y, ldy, 1);
}

/* ---------------------------------------------------------------- AVX-512: 8 x 1 and 6 x 4 blocks of zmm
 * A block past the last weight row repeats the last row and drops those results, and every output element
 * goes through the same 8-accumulator reduction tree (unused accumulators are zero). */

#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* The sums of eight 16-lane accumulators in one fixed tree: lanes (i, i+8), (i, i+4), (i, i+2), (i, i+1). */
TARGET_AVX512 static inline __attribute__((always_inline)) __m256 reduce8_avx512(const __m512 *a) {
    __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(a[0], a[1], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a[0], a[1], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(a[2], a[3], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a[2], a[3], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 s45 = _mm512_add_ps(_mm512_shuffle_f32x4(a[4], a[5], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a[4], a[5], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 s67 = _mm512_add_ps(_mm512_shuffle_f32x4(a[6], a[7], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a[6], a[7], _MM_SHUFFLE(3, 2, 3, 2)));
    /* quarter j of t0123 (t4567): accumulator j (j + 4), four partial sums */
    __m512 t0123 = _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 t4567 = _mm512_add_ps(_mm512_shuffle_f32x4(s45, s67, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(s45, s67, _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 u = _mm512_add_ps(_mm512_shuffle_ps(t0123, t4567, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(t0123, t4567, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 v = _mm512_add_ps(u, _mm512_permute_ps(u, _MM_SHUFFLE(2, 3, 0, 1)));
    /* lanes 0, 4, 8, 12 hold accumulators 0-3; lanes 2, 6, 10, 14 accumulators 4-7 */
    __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps256(_mm512_permutexvar_ps(order, v));
}

/* `ahead` (when not NULL): the weight rows of a later block, fetched into L2 while this block computes.
 * R weight rows (at most 8) x C input rows (at most 4) of accumulators; accumulators R..7 are zero and
 * only fill the reduction tree, whose result for an accumulator does not depend on its position. */
/* Sixteen weights of row `w` from column k (`mask`: the lanes to load): fp32, or fp16 converted exactly when `half`. */
TARGET_AVX512 static inline __attribute__((always_inline)) __m512 load16_avx512(const void *w, int k, const int half) {
    if (half) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + k)));
    return _mm512_loadu_ps((const float *)w + k);
}

TARGET_AVX512 static inline __attribute__((always_inline)) __m512 load16_tail_avx512(const void *w, int k, __mmask16 mask, const int half) {
    if (half) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, (const uint16_t *)w + k));
    return _mm512_maskz_loadu_ps(mask, (const float *)w + k);
}

TARGET_AVX512 static inline __attribute__((always_inline)) void
block_avx512(const float *x, int ldx, int in, const void *const *w, const void *const *ahead, float *y, int ldy, int valid,
             const int R, const int C, const int half) {
    const size_t size = half ? 2 : 4;
    __m512 acc[4][8];
    for (int c = 0; c < C; c++)
        for (int r = 0; r < 8; r++) acc[c][r] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= in; k += 16) {
        __m512 xv[4];
        for (int c = 0; c < C; c++) xv[c] = _mm512_loadu_ps(x + (size_t)c * ldx + k);
        if (ahead && (k * size) % 64 == 0)
            for (int r = 0; r < R; r++) _mm_prefetch((const char *)ahead[r] + k * size, _MM_HINT_T1);
        for (int r = 0; r < R; r++) {
            __m512 wv = load16_avx512(w[r], k, half);
            for (int c = 0; c < C; c++) acc[c][r] = _mm512_fmadd_ps(wv, xv[c], acc[c][r]);
        }
    }
    if (k < in) {
        __mmask16 mask = (__mmask16)((1u << (in - k)) - 1);
        __m512 xv[4];
        for (int c = 0; c < C; c++) xv[c] = _mm512_maskz_loadu_ps(mask, x + (size_t)c * ldx + k);
        for (int r = 0; r < R; r++) {
            __m512 wv = load16_tail_avx512(w[r], k, mask, half);
            for (int c = 0; c < C; c++) acc[c][r] = _mm512_fmadd_ps(wv, xv[c], acc[c][r]);
        }
    }
    __mmask8 store = (__mmask8)((1u << valid) - 1);
    for (int c = 0; c < C; c++) _mm256_mask_storeu_ps(y + (size_t)c * ldy, store, reduce8_avx512(acc[c]));
}

/* One input row: blocks of 8 weight rows (8 independent FMA chains, memory-bound). Several input rows:
 * blocks of 6 weight rows x up to 4 input rows (24 zmm accumulators), so a tree of up to 4 nodes reads
 * each weight row once from memory and once from L1 (8 x 3 blocks needed 3 + 1 passes for 4 rows).
 * The block shape never changes an element's operations: n = 1 and n > 1 give the same bits. */
#define AVX512_ROWS_MAX 8
#define AVX512_PASS(R, C) block_avx512(x + (size_t)i * ldx, ldx, in, wr, ahead, y + (size_t)i * ldy + r, ldy, valid, R, C, half)
TARGET_AVX512 static inline __attribute__((always_inline)) void
rows_avx512_impl(const float *x, int ldx, int n, int in, const void *w, int rows, float *y, int ldy, const int half) {
    const int R = n == 1 ? 8 : 6;
    const size_t size = half ? 2 : 4;
    for (int r = 0; r < rows; r += R) {
        const void *wr[AVX512_ROWS_MAX], *next[AVX512_ROWS_MAX];
        for (int j = 0; j < R; j++) wr[j] = (const char *)w + (size_t)(r + j < rows ? r + j : rows - 1) * in * size;
        for (int j = 0; j < R; j++) next[j] = (const char *)w + (size_t)(r + 2 * R + j < rows ? r + 2 * R + j : rows - 1) * in * size;
        /* Fetch the block after next into L2 during the first pass over this one: measured here (Zen 4,
         * model weights from L3) 30-45 % faster for n = 1...8 than the hardware prefetchers alone. */
        const void *const *ahead = r + 2 * R < rows ? next : NULL;
        int valid = rows - r < R ? rows - r : R;
        int i = 0;
        if (R == 8) {
            AVX512_PASS(8, 1);
            continue;
        }
        if (valid < R) {
            /* The last 1-5 rows: a block of 4 and/or 2 rows, then 1 (no work on rows that would be dropped). */
            for (int done = 0; done < valid;) {
                int left = valid - done, step = left >= 4 ? 4 : left >= 2 ? 2 : 1;
                const void *tail[AVX512_ROWS_MAX];
                for (int j = 0; j < step; j++) tail[j] = wr[done + j];
                float *yt = y + r + done;
                for (i = 0; i < n; i += 4) {
                    int c = n - i < 4 ? n - i : 4;
#define AVX512_TAIL(RT, C) block_avx512(x + (size_t)i * ldx, ldx, in, tail, NULL, yt + (size_t)i * ldy, ldy, RT, RT, C, half)
                    if (step == 4) { if (c == 4) AVX512_TAIL(4, 4); else if (c == 3) AVX512_TAIL(4, 3); else if (c == 2) AVX512_TAIL(4, 2); else AVX512_TAIL(4, 1); }
                    else if (step == 2) { if (c == 4) AVX512_TAIL(2, 4); else if (c == 3) AVX512_TAIL(2, 3); else if (c == 2) AVX512_TAIL(2, 2); else AVX512_TAIL(2, 1); }
                    else { if (c == 4) AVX512_TAIL(1, 4); else if (c == 3) AVX512_TAIL(1, 3); else if (c == 2) AVX512_TAIL(1, 2); else AVX512_TAIL(1, 1); }
#undef AVX512_TAIL
                }
                done += step;
            }
            continue;
        }
        for (; i + 4 <= n; i += 4, ahead = NULL) AVX512_PASS(6, 4);
        switch (n - i) {
        case 3: AVX512_PASS(6, 3); break;
        case 2: AVX512_PASS(6, 2); break;
        case 1: AVX512_PASS(6, 1); break;
        default: break;
        }
    }
}

TARGET_AVX512 static void rows_avx512(const float *x, int ldx, int n, int in, const void *w, int rows, float *y, int ldy) {
    rows_avx512_impl(x, ldx, n, in, w, rows, y, ldy, 0);
}
TARGET_AVX512 static void rows_avx512_half(const float *x, int ldx, int n, int in, const void *w, int rows, float *y, int ldy) {
    rows_avx512_impl(x, ldx, n, in, w, rows, y, ldy, 1);
}
#endif

typedef void (*rows_fn)(const float *, int, int, int, const void *, int, float *, int);

static rows_fn rows_for(int variant, int half) {
#if defined(__x86_64__)
    if (variant == HK_VARIANT_AVX512) return half ? rows_avx512_half : rows_avx512;
    if (variant == HK_VARIANT_AVX2) return half ? rows_avx2_half : rows_avx2;
#endif
    (void)variant;
    return half ? rows_portable_half : rows_portable;
}

void hk_matmul_serial(int variant, const float *x, int ldx, int n, int in, const float *w, int rows, float *y, int ldy) {
    if (n <= 0 || rows <= 0 || in <= 0) return;
    if (!hk_variant_supported(variant)) variant = hk_best_variant();
    rows_for(variant, 0)(x, ldx, n, in, w, rows, y, ldy);
}

void hk_matmul_half_serial(int variant, const float *x, int ldx, int n, int in, const uint16_t *w, int rows, float *y, int ldy) {
    if (n <= 0 || rows <= 0 || in <= 0) return;
    if (!hk_variant_supported(variant)) variant = hk_best_variant();
    rows_for(variant, 1)(x, ldx, n, in, w, rows, y, ldy);
}

typedef struct {
    rows_fn rows;
    const float *x;
    int ldx, n, in;
    const hk_segment *segments;      /* fp32 weights, or */
    const hk_half_segment *halves;   /* fp16 weights (one of the two is NULL) */
    int count;
    int epilogue;     /* HK_EPILOGUE_* */
    int vector_epilogue; /* 1: the AVX2 build of the epilogue (AVX2 and AVX-512 pools) */
    float *out;       /* ADD: (n, ldo) the residual stream the product is added to */
    int ldo;
    long total, chunk, chunks;
    _Atomic long next; /* the next chunk to claim */
} matmul_job;

/* ------------------------------------------------------------------------------------------------ epilogues
 * Element-wise steps on the outputs a chunk has just computed, while they are in cache. Every element goes
 * through the same operations whichever chunk, thread or vector lane it falls in (the tail of a chunk is
 * computed as a padded vector with the same code), so the bits do not depend on the split. */

#pragma clang fp contract(off)
/* gate = gate * sigmoid(gate) * up, as Ops.swiglu's vector lanes compute it. */
static inline __attribute__((always_inline)) v8f swiglu8(v8f a, v8f b) {
    const v8f one = {1, 1, 1, 1, 1, 1, 1, 1};
    return a * (one / (one + exp8(-a))) * b;
}

static inline __attribute__((always_inline)) void swiglu_span(float *gate, const float *up, int count) {
    int k = 0;
    for (; k + 8 <= count; k += 8) *(v8f_u *)(gate + k) = swiglu8(*(const v8f_u *)(gate + k), *(const v8f_u *)(up + k));
    if (k < count) {
        v8f a = {0, 0, 0, 0, 0, 0, 0, 0}, b = a;
        for (int t = 0; k + t < count; t++) { a[t] = gate[k + t]; b[t] = up[k + t]; }
        v8f r = swiglu8(a, b);
        for (int t = 0; k + t < count; t++) gate[k + t] = r[t];
    }
}

static inline __attribute__((always_inline)) void add_span(float *out, const float *y, int count) {
    for (int k = 0; k < count; k++) out[k] = out[k] + y[k];
}
#pragma clang fp contract(on)

/* The epilogue for the outputs of weight rows lower..<upper (SWIGLU: of the gate and up segments alike); compiled for
 * the baseline instructions and for AVX2 (the same operations, no fused multiply-adds: contraction is off). */
static inline __attribute__((always_inline)) void epilogue_impl(const matmul_job *job, long lower, long upper) {
    if (job->epilogue == HK_EPILOGUE_NONE || lower >= upper) return;
    float *y0 = job->segments ? job->segments[0].y : job->halves[0].y;
    int ld0 = job->segments ? job->segments[0].ldy : job->halves[0].ldy;
    for (int i = 0; i < job->n; i++) {
        if (job->epilogue == HK_EPILOGUE_ADD) {
            add_span(job->out + (size_t)i * job->ldo + lower, y0 + (size_t)i * ld0 + lower, (int)(upper - lower));
        } else {
            float *y1 = job->segments ? job->segments[1].y : job->halves[1].y;
            int ld1 = job->segments ? job->segments[1].ldy : job->halves[1].ldy;
            swiglu_span(y0 + (size_t)i * ld0 + lower, y1 + (size_t)i * ld1 + lower, (int)(upper - lower));
        }
    }
}

static void epilogue_portable(const matmul_job *job, long lower, long upper) { epilogue_impl(job, lower, upper); }
#if defined(__x86_64__)
__attribute__((target("avx2"))) static void epilogue_avx2(const matmul_job *job, long lower, long upper) { epilogue_impl(job, lower, upper); }
#endif

static void epilogue_rows(const matmul_job *job, long lower, long upper) {
#if defined(__x86_64__)
    if (job->vector_epilogue) { epilogue_avx2(job, lower, upper); return; }
#endif
    epilogue_portable(job, lower, upper);
}

/* Products for the weight rows lower..<upper of the segments laid end to end. */
static void matmul_rows(const matmul_job *job, long lower, long upper) {
    if (job->epilogue == HK_EPILOGUE_SWIGLU) {
        /* Chunks count gate rows; each computes the same rows of the up segment, then the gate. */
        for (int s = 0; s < 2; s++) {
            const void *w = job->segments ? (const void *)job->segments[s].w : (const void *)job->halves[s].w;
            float *y = job->segments ? job->segments[s].y : job->halves[s].y;
            int ldy = job->segments ? job->segments[s].ldy : job->halves[s].ldy;
            size_t size = job->segments ? 4 : 2;
            job->rows(job->x, job->ldx, job->n, job->in, (const char *)w + (size_t)lower * job->in * size, (int)(upper - lower), y + lower, ldy);
        }
        epilogue_rows(job, lower, upper);
        return;
    }
    long base = 0;
    for (int s = 0; s < job->count && base < upper; s++) {
        const void *w = job->segments ? (const void *)job->segments[s].w : (const void *)job->halves[s].w;
        int segmentRows = job->segments ? job->segments[s].rows : job->halves[s].rows;
        float *y = job->segments ? job->segments[s].y : job->halves[s].y;
        int ldy = job->segments ? job->segments[s].ldy : job->halves[s].ldy;
        size_t size = job->segments ? 4 : 2;
        long rows = segmentRows > 0 ? segmentRows : 0;
        long from = lower > base ? lower - base : 0, to = upper - base < rows ? upper - base : rows;
        if (from < to)
            job->rows(job->x, job->ldx, job->n, job->in, (const char *)w + (size_t)from * job->in * size, (int)(to - from), y + from, ldy);
        base += rows;
    }
    epilogue_rows(job, lower, upper);
}

/* Threads claim chunks of weight rows from a shared counter until none is left: a thread that starts
 * late (woken from sleep, or preempted) takes fewer chunks. Which thread computes a row never changes
 * how it is computed. */
static void matmul_share(void *context, int thread, int threads) {
    (void)thread;
    (void)threads;
    matmul_job *job = context;
    for (;;) {
        long c = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (c >= job->chunks) break;
        long lower = c * job->chunk, upper = lower + job->chunk < job->total ? lower + job->chunk : job->total;
        matmul_rows(job, lower, upper);
    }
}

static void matmul_run(hk_pool *pool, const float *x, int ldx, int n, int in, const hk_segment *segments,
                       const hk_half_segment *halves, int count, int epilogue, float *out, int ldo) {
    matmul_job job;
    job.epilogue = epilogue;
    job.vector_epilogue = hk_pool_variant(pool) != HK_VARIANT_PORTABLE;
    job.out = out;
    job.ldo = ldo;
    job.rows = rows_for(hk_pool_variant(pool), halves != NULL);
    job.x = x;
    job.ldx = ldx;
    job.n = n;
    job.in = in;
    job.segments = segments;
    job.halves = halves;
    job.count = count;
    job.total = 0;
    for (int s = 0; s < count; s++) {
        int rows = segments ? segments[s].rows : halves[s].rows;
        job.total += rows > 0 ? rows : 0;
    }
    if (epilogue == HK_EPILOGUE_SWIGLU) job.total = segments ? segments[0].rows : halves[0].rows;
    if (job.total <= 0) return;
    /* Under about 16k multiply-adds a wake-up costs more than it saves. */
    if (job.total * in * n < 16384 || hk_pool_threads(pool) == 1) {
        matmul_rows(&job, 0, job.total);
        return;
    }
    /* About 4 chunks per thread, each a whole number of register blocks: 8 weight rows for one input row (AVX-512
     * 8 x 1, AVX2 4 x 3), 24 (= 6 x 4 = 4 x 6) for several. */
    long unit = n == 1 ? 8 : 24;
    long chunk = job.total / (4L * hk_pool_threads(pool));
    chunk = chunk < unit ? unit : (chunk + unit - 1) / unit * unit;
    job.chunk = chunk;
    job.chunks = (job.total + chunk - 1) / chunk;
    atomic_init(&job.next, 0);
    hk_pool_run(pool, matmul_share, &job);
}

void hk_matmul(hk_pool *pool, const float *x, int ldx, int n, int in, const hk_segment *segments, int count) {
    if (!x || !segments || n <= 0 || in <= 0 || count <= 0) return;
    matmul_run(pool, x, ldx, n, in, segments, NULL, count, HK_EPILOGUE_NONE, NULL, 0);
}

void hk_matmul_half(hk_pool *pool, const float *x, int ldx, int n, int in, const hk_half_segment *segments, int count) {
    if (!x || !segments || n <= 0 || in <= 0 || count <= 0) return;
    matmul_run(pool, x, ldx, n, in, NULL, segments, count, HK_EPILOGUE_NONE, NULL, 0);
}

/* The epilogue's shape: ADD takes one segment and an output; SWIGLU two segments of equal rows. */
static int epilogue_fits(int count, int epilogue, int rows0, int rows1, const float *out) {
    if (epilogue == HK_EPILOGUE_ADD) return count == 1 && out != NULL;
    if (epilogue == HK_EPILOGUE_SWIGLU) return count == 2 && rows0 == rows1;
    return epilogue == HK_EPILOGUE_NONE;
}

void hk_matmul_epilogue(hk_pool *pool, const float *x, int ldx, int n, int in, const hk_segment *segments, int count,
                        int epilogue, float *out, int ldo) {
    if (!x || !segments || n <= 0 || in <= 0 || count <= 0) return;
    if (!epilogue_fits(count, epilogue, segments[0].rows, count > 1 ? segments[1].rows : 0, out)) return;
    matmul_run(pool, x, ldx, n, in, segments, NULL, count, epilogue, out, ldo);
}

void hk_matmul_half_epilogue(hk_pool *pool, const float *x, int ldx, int n, int in, const hk_half_segment *segments, int count,
                             int epilogue, float *out, int ldo) {
    if (!x || !segments || n <= 0 || in <= 0 || count <= 0) return;
    if (!epilogue_fits(count, epilogue, segments[0].rows, count > 1 ? segments[1].rows : 0, out)) return;
    matmul_run(pool, x, ldx, n, in, NULL, segments, count, epilogue, out, ldo);
}
