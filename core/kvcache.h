/* kvcache.h — KV cache slots, compression and lookup strategies (HUGINN.md §4).
 *
 * Raw slot of an attention call: prelude layer i -> i; core step k, layer j
 * -> P + R k + j (P prelude layers, R core layers); coda layer i -> -(i+1).
 * Compression maps core slots (>= P) to fewer slots; lookup decides what a
 * position that exited its recurrence early contributes to a later slot.
 * The reference hard-codes P = 2 and R = 4 ("slot >= 2", "mod 4"); here the
 * same rules are written for any P and R and agree with it on Huginn-0125. */
#ifndef HG_KVCACHE_H
#define HG_KVCACHE_H

#include "internal.h"

typedef struct hg_kvs {
    char name[64];
    int compress;   /* 0, 's' (slot -> (slot-P) mod N + P) or 'r' (slot -> (slot-P) div N + P) */
    int n;          /* N of compress-sN / compress-rN */
    int latest;     /* latest-m4 lookup for missing entries */
    int fallback;   /* compress-sN/rN alone: latest-m4 when an entry is missing */
} hg_kvs;

hg_status hg_kvs_parse(const char *s, hg_kvs *out, hg_err *err);
/* Compressed slot of a raw slot (raw >= 0; prelude slots unchanged). */
int hg_kvs_map(const hg_kvs *k, int P, int raw);
/* Number of core slots needed for max_steps recurrence steps. */
int hg_kvs_core_slots(const hg_kvs *k, int R, int max_steps);
/* Does compressed core slot c (>= P) hold an entry for a position that ran
 * `steps` recurrence steps (>= 1)? */
int hg_kvs_has(const hg_kvs *k, int P, int R, int c, int steps);
/* The slot to read for compressed core slot c and a position that ran
 * `steps` steps, or -1 when the position is left out. */
int hg_kvs_lookup(const hg_kvs *k, int P, int R, int c, int steps);

#endif
