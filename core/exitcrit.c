/* exitcrit.c — exit values of entropy-diff, latent-diff, kl, minp-kl,
 * argmax-stability and cosine, with the reference's initial "previous". */
#include "exitcrit.h"
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const crit_names[HG_CRIT_COUNT] = {
    [HG_CRIT_OFF] = "off",
    [HG_CRIT_NONE] = "none",
    [HG_CRIT_ENTROPY_DIFF] = "entropy-diff",
    [HG_CRIT_LATENT_DIFF] = "latent-diff",
    [HG_CRIT_KL] = "kl",
    [HG_CRIT_MINP_KL] = "minp-kl",
    [HG_CRIT_ARGMAX_STABILITY] = "argmax-stability",
    [HG_CRIT_COSINE] = "cosine",
};

const char *hg_criterion_name(hg_criterion c)
{
    return c >= 0 && c < HG_CRIT_COUNT ? crit_names[c] : "?";
}

hg_status hg_criterion_parse(const char *name, hg_criterion *out)
{
    for (int i = 0; i < HG_CRIT_COUNT; i++)
        if (name && strcmp(name, crit_names[i]) == 0) { *out = (hg_criterion)i; return HG_OK; }
    return HG_E_ARG;
}

double hg_criterion_default_threshold(hg_criterion c)
{
    switch (c) {
    case HG_CRIT_ENTROPY_DIFF: return 1e-3;
    case HG_CRIT_LATENT_DIFF: return 0.03;
    case HG_CRIT_KL: return 1e-3;
    case HG_CRIT_MINP_KL: return 1e-5;
    case HG_CRIT_ARGMAX_STABILITY: return 5;
    case HG_CRIT_COSINE: return 1e-3;
    default: return NAN;
    }
}

int hg_criterion_exits_above(hg_criterion c) { return c == HG_CRIT_ARGMAX_STABILITY; }

int hg_exit_needs_logits(hg_criterion c)
{
    return c == HG_CRIT_ENTROPY_DIFF || c == HG_CRIT_KL || c == HG_CRIT_MINP_KL || c == HG_CRIT_ARGMAX_STABILITY;
}

hg_status hg_exit_alloc(hg_exit_state *s, int V, size_t max_state_values)
{
    memset(s, 0, sizeof *s);
    s->V = V;
    s->prev_logp = malloc(sizeof(float) * (size_t)V);
    s->cur_logp = malloc(sizeof(float) * (size_t)V);
    s->prev_x = calloc(max_state_values ? max_state_values : 1, sizeof(float));
    if (!s->prev_logp || !s->cur_logp || !s->prev_x) {
        hg_exit_free(s);
        return HG_E_NOMEM;
    }
    return HG_OK;
}

void hg_exit_free(hg_exit_state *s)
{
    free(s->prev_logp);
    free(s->cur_logp);
    free(s->prev_x);
    memset(s, 0, sizeof *s);
}

void hg_exit_begin(hg_exit_state *s, hg_criterion c, double threshold, const float *x0, int T, int E)
{
    s->crit = c;
    s->threshold = isnan(threshold) ? hg_criterion_default_threshold(c) : threshold;
    s->prev_entropy = 100.0;
    s->prev_argmax = -1;
    s->stable = 0;
    if (c == HG_CRIT_KL || c == HG_CRIT_MINP_KL) {
        float u = logf(1.0f / (float)s->V);
        for (int i = 0; i < s->V; i++) s->prev_logp[i] = u;
    }
    if (c == HG_CRIT_LATENT_DIFF || c == HG_CRIT_COSINE)
        memcpy(s->prev_x, x0, sizeof(float) * (size_t)T * (size_t)E);
}

/* log-softmax of logits into out. */
static void log_softmax(float *out, const float *logits, int V)
{
    float mx = logits[0];
    for (int i = 1; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    for (int i = 0; i < V; i++) out[i] = (float)((double)logits[i] - lse);
}

static double kl_and_swap(hg_exit_state *s)
{
    double kl = 0;
    for (int i = 0; i < s->V; i++) {
        double p = s->prev_logp[i];
        kl += exp(p) * (p - (double)s->cur_logp[i]);
    }
    float *t = s->prev_logp;
    s->prev_logp = s->cur_logp;
    s->cur_logp = t;
    return kl;
}

double hg_exit_value(hg_exit_state *s, const float *logits, const float *x, int T, int E)
{
    int V = s->V;
    switch (s->crit) {
    case HG_CRIT_ENTROPY_DIFF: {
        float *p = s->cur_logp;
        memcpy(p, logits, sizeof(float) * (size_t)V);
        hg_softmax(p, V);
        double H = 0;
        for (int i = 0; i < V; i++) H -= (double)p[i] * log((double)p[i] + 1e-10);
        double v = fabs(H - s->prev_entropy);
        s->prev_entropy = H;
        return v;
    }
    case HG_CRIT_KL:
        log_softmax(s->cur_logp, logits, V);
        return kl_and_swap(s);
    case HG_CRIT_MINP_KL: {
        float *p = s->cur_logp;
        memcpy(p, logits, sizeof(float) * (size_t)V);
        hg_softmax(p, V);
        float mx = 0;
        for (int i = 0; i < V; i++) mx = p[i] > mx ? p[i] : mx;
        double sum = 0;
        for (int i = 0; i < V; i++) {
            if (p[i] < 0.1f * mx) p[i] = 1.0f / (float)V;
            sum += p[i];
        }
        for (int i = 0; i < V; i++) p[i] = (float)log((double)p[i] / sum);
        return kl_and_swap(s);
    }
    case HG_CRIT_ARGMAX_STABILITY: {
        int a = hg_argmax(logits, V);
        s->stable = a == s->prev_argmax ? s->stable + 1 : 0;
        s->prev_argmax = a;
        return s->stable;
    }
    case HG_CRIT_LATENT_DIFF:
    case HG_CRIT_COSINE: {
        double acc = 0;
        for (int t = 0; t < T; t++) {
            const float *a = x + (size_t)t * E, *b = s->prev_x + (size_t)t * E;
            double dd = 0, aa = 0, bb = 0, ab = 0;
            for (int i = 0; i < E; i++) {
                double d = (double)a[i] - b[i];
                dd += d * d;
                aa += (double)a[i] * a[i];
                bb += (double)b[i] * b[i];
                ab += (double)a[i] * b[i];
            }
            acc += s->crit == HG_CRIT_LATENT_DIFF ? sqrt(dd) / sqrt(aa) : ab / sqrt(aa) / sqrt(bb);
        }
        memcpy(s->prev_x, x, sizeof(float) * (size_t)T * (size_t)E);
        acc /= T;
        return s->crit == HG_CRIT_LATENT_DIFF ? acc : 1.0 - acc;
    }
    default:
        return 0.0;
    }
}

int hg_exit_passes(const hg_exit_state *s, double v)
{
    switch (s->crit) {
    case HG_CRIT_OFF:
    case HG_CRIT_NONE: return 0;
    case HG_CRIT_ARGMAX_STABILITY: return v >= s->threshold;
    default: return v < s->threshold;
    }
}
