/* kernels_x86.h — small vector helpers shared by the x86 kernel files
 * (kernels_x86.c, kernels_x86_q4.c); x86-64 only. */
#ifndef HG_KERNELS_X86_H
#define HG_KERNELS_X86_H

#include <immintrin.h>

/* The sum of the eight lanes (AVX; inlined into AVX2 and AVX-512 callers). */
__attribute__((always_inline, target("avx"))) static inline float hg_hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/* acc plus the products of u's u8 and s's s8 summed in fours into acc's
 * int32 lanes: the VEX vpdpbusd of AVX-VNNI (Intel client chips from Alder
 * Lake on), as asm so that the AVX2 kernels compiled for the avxvnni variant
 * need no compiler target for it. */
__attribute__((always_inline, target("avx2"))) static inline __m256i hg_dpbusd_vex(__m256i acc, __m256i u, __m256i s)
{
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u), "x"(s));
    return acc;
}

#endif
