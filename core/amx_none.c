/* amx_none.c — the AMX entry points on targets without AMX (every non-x86
 * build): nothing is available, hg_matmul takes its other paths. */
#include "amx.h"

int hg_amx_available(void) { return 0; }

int hg_amx_matmul(hg_pool *pool, float *Y, const float *X, const hg_mat *W, int T, hg_amx_ws *ws)
{
    (void)pool, (void)Y, (void)X, (void)W, (void)T, (void)ws;
    return 0;
}
