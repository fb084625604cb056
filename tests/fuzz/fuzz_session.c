/* fuzz_session.c — session files: loaded (refused or repaired), then used
 * as the chat would: rendered and tokenized, wrapped for the screen, the
 * steps fed to the gauge, saved and exported, loaded again. */
#include "fuzz.h"
#include "huginn.h"
#include "gauge.h"
#include "session.h"
#include "wrap.h"

static hg_tokenizer *g_t;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    hg_err e;
    if (hg_tokenizer_load_dir("tests/fixtures/tiny-huginn", &g_t, &e) != HG_OK) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], out[256], md[256], err[512];
    snprintf(path, sizeof path, "%s/session.json", fz_tmpdir());
    snprintf(out, sizeof out, "%s/saved.json", fz_tmpdir());
    snprintf(md, sizeof md, "%s/export.md", fz_tmpdir());
    fz_write(path, data, size);
    us_session s;
    ss_init(&s);
    if (ss_load(&s, path, err, sizeof err) < 0) {
        ss_free(&s);
        return 0;
    }
    if (strchr(err, '\n') && s.n >= 0) { /* a one-line note */ }
    hg_chat_msg *v = malloc(sizeof *v * (size_t)(s.n + 1));
    ug_gauge g;
    ug_init(&g);
    for (int i = 0; i < s.n; i++) {
        const us_msg *m = &s.msg[i];
        if (!ss_utf8_valid(m->content, m->len)) abort();
        v[i].role = m->role;
        v[i].content = m->content;
        uw_line lines[64];
        uw_wrap(m->content, m->len, 40, lines, 64);
        for (int k = 0; k < m->n_tok; k++) {
            if (m->tok[k].steps < 1 || m->tok[k].steps > 256) abort();
            ug_token(&g, m->tok[k].steps, 32);
            ss_token_at(m, m->tok[k].start);
        }
        ss_mean_steps(m);
    }
    int32_t *ids;
    int n;
    hg_err e;
    if (hg_chat_tokenize(g_t, v, s.n, 1, &ids, &n, &e) == HG_OK) free(ids);
    free(v);
    if (ss_save(&s, out, err, sizeof err) == 0) {
        us_session s2;
        ss_init(&s2);
        if (ss_load(&s2, out, err, sizeof err) != 0) abort(); /* what we save loads clean */
        if (s2.n != s.n) abort();
        ss_free(&s2);
    }
    ss_export_md(&s, md, err, sizeof err);
    ss_free(&s);
    return 0;
}
