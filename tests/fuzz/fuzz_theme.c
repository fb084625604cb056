/* fuzz_theme.c — theme files (loaded by name from $HUGINN_THEMES) and the
 * settings file (config.json), both JSON the user may hand-edit. */
#include "fuzz.h"
#include "settings.h"
#include "theme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], err[512];
    setenv("HUGINN_THEMES", fz_tmpdir(), 1);
    snprintf(path, sizeof path, "%s/fuzzed.json", fz_tmpdir());
    fz_write(path, data, size);
    ut_theme t;
    ut_load(&t, "fuzzed", err, sizeof err);
    for (int d = 0; d < 4; d++)
        for (int r = 0; r < R_COUNT; r++) {
            ut_color_for_depth(t.role[r].fg, d == 0 ? 0 : d == 1 ? 16 : d == 2 ? 256 : 24);
            ut_color_for_depth(t.role[r].bg, d == 0 ? 0 : d == 1 ? 16 : d == 2 ? 256 : 24);
        }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    us_settings s;
    us_defaults(&s, 32);
    char model[256];
    us_apply_config(&s, text, model, sizeof model, err, sizeof err);
    if (s.num_steps < 1 || s.num_steps > US_MAX_STEPS) abort();
    free(text);
    return 0;
}
