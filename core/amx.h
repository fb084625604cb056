/* amx.h — AMX (bf16 tile) matrix products for the prefill. */
#ifndef HG_AMX_H
#define HG_AMX_H

#include "kernels.h"

/* Workspace reused across calls (grown when a call needs more). */
typedef struct hg_amx_ws {
    void *buf;
    size_t bytes;
} hg_amx_ws;

/* 1 when the CPU has AMX-BF16 and Linux granted the tile state. */
int hg_amx_available(void);
/* Y(T, N) = X(T, K) · W(N, K)^T on AMX for bf16/q8_0 weights (X rounded to
 * bf16); returns 0 (nothing done) when AMX or the shape (N, K multiples of
 * 32) does not allow it. */
int hg_amx_matmul(hg_pool *pool, float *Y, const float *X, const hg_mat *W, int T, hg_amx_ws *ws);

#endif
