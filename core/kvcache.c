/* kvcache.c — slot arithmetic of the KV cache strategies. */
#include "kvcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_compress(const char *s, hg_kvs *k)
{
    if (strncmp(s, "compress-", 9) != 0) return 0;
    char kind = s[9];
    if (kind != 's' && kind != 'r') return 0;
    const char *num = s + 10;
    if (!*num) return 0;
    char *end;
    long n = strtol(num, &end, 10);
    if (*end || n < 1 || n > 1 << 20 || *num == '+' || *num == '-') return 0;
    k->compress = kind;
    k->n = (int)n;
    return 1;
}

hg_status hg_kvs_parse(const char *s, hg_kvs *k, hg_err *err)
{
    memset(k, 0, sizeof *k);
    if (!s) s = "full"; /* NULL = default; "" is not a strategy */
    if (strlen(s) >= sizeof k->name)
        return hg_fail(err, HG_E_ARG, "unknown cache strategy '%.40s…'", s);
    snprintf(k->name, sizeof k->name, "%s", s);
    if (strcmp(s, "full") == 0) return HG_OK;
    if (strcmp(s, "latest-m4") == 0) { k->latest = 1; return HG_OK; }
    if (strncmp(s, "latest-m4-", 10) == 0 && parse_compress(s + 10, k)) { k->latest = 1; return HG_OK; }
    if (parse_compress(s, k)) { k->fallback = 1; return HG_OK; }
    memset(k, 0, sizeof *k);
    return hg_fail(err, HG_E_ARG,
                   "unknown cache strategy '%s' (use full, latest-m4, compress-sN, compress-rN, "
                   "latest-m4-compress-sN or latest-m4-compress-rN)", s);
}

hg_status hg_cache_strategy_check(const char *strategy, hg_err *err)
{
    hg_kvs k;
    return hg_kvs_parse(strategy, &k, err);
}

int hg_kvs_map(const hg_kvs *k, int P, int raw)
{
    if (raw < P || !k->compress) return raw;
    return k->compress == 's' ? (raw - P) % k->n + P : (raw - P) / k->n + P;
}

int hg_kvs_core_slots(const hg_kvs *k, int R, int max_steps)
{
    int raw = R * max_steps;
    if (k->compress == 's') return raw < k->n ? raw : k->n;
    if (k->compress == 'r') return (raw + k->n - 1) / k->n;
    return raw;
}

int hg_kvs_has(const hg_kvs *k, int P, int R, int c, int steps)
{
    int written = R * steps; /* raw core slots P .. P + written - 1 */
    int off = c - P;
    if (off < 0) return 1;
    if (k->compress == 's') return off < (written < k->n ? written : k->n);
    if (k->compress == 'r') return off <= (written - 1) / k->n;
    return off < written;
}

int hg_kvs_lookup(const hg_kvs *k, int P, int R, int c, int steps)
{
    if (hg_kvs_has(k, P, R, c, steps)) return c;
    if (!k->latest && !k->fallback) return -1; /* full: left out */
    for (int s = c - R; s >= P; s -= R)
        if (hg_kvs_has(k, P, R, s, steps)) return s;
    return -1;
}
