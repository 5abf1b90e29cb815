/* Eight-lane float vectors (C vector extensions) and the exponential the kernels share: the element-wise work of
 * attention's softmax and of the SwiGLU epilogue. Private to CKernels. */
#ifndef HYDRAKERNELS_VECMATH_H
#define HYDRAKERNELS_VECMATH_H

#include <math.h>
#include <stdint.h>

typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_u __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* mask ? yes : no, lane by lane. */
static inline __attribute__((always_inline)) v8f blend8(v8i mask, v8f yes, v8f no) {
    return (v8f)(((v8i)yes & mask) | ((v8i)no & ~mask));
}

/* e^x, eight lanes: the algorithm of the Swift FastMath.exp (Cody-Waite reduction, degree-6 polynomial), with
 * multiplies and adds kept apart (no fused multiply-add), so every build of it gives the same bits. Below -87.3 it
 * is 0, above 88.7 infinity. */
static inline __attribute__((always_inline)) v8f exp8(v8f x) {
#pragma clang fp contract(off)
    const v8f lo = {-87.3f, -87.3f, -87.3f, -87.3f, -87.3f, -87.3f, -87.3f, -87.3f};
    const v8f hi = {88.7f, 88.7f, 88.7f, 88.7f, 88.7f, 88.7f, 88.7f, 88.7f};
    v8i under = x < lo, over = x > hi;
    v8f c = blend8(under, lo, blend8(over, hi, x));
    const float magic = 12582912.0f;
    v8f shifted = c * 1.44269504f + magic;
    v8f n = shifted - magic;
    v8f r = (c - n * 0.69314575f) - n * 1.4286068e-6f;
    v8f p = r * (1.0f / 720) + (1.0f / 120);
    p = p * r + (1.0f / 24);
    p = p * r + (1.0f / 6);
    p = p * r + 0.5f;
    p = p * r + 1;
    p = p * r + 1;
    v8i bits = (v8i)shifted - 0x4B400000;
    v8f scale = (v8f)((bits + 126) << 23);
    v8f result = p * scale * 2;
    const v8f zero = {0, 0, 0, 0, 0, 0, 0, 0};
    const v8f inf = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
    return blend8(under, zero, blend8(over, inf, result));
}

#endif
