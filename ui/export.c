/* export.c — traces (JSON Lines) and the HTML page of a conversation. */
#include "export.h"
#include "heatmap.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ buffer */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len)
{
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { sb_put(b, tmp, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) { b->oom = 1; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)n);
    free(big);
}

/* A JSON string (UTF-8 passed through, controls escaped). */
static void sb_json_str(sbuf *b, const char *s, size_t len)
{
    sb_puts(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { char e[3] = {'\\', (char)c, 0}; sb_puts(b, e); }
        else if (c == '\n') sb_puts(b, "\\n");
        else if (c == '\r') sb_puts(b, "\\r");
        else if (c == '\t') sb_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f) sb_printf(b, "\\u%04x", c);
        else sb_put(b, (const char *)&c, 1);
    }
    sb_puts(b, "\"");
}

/* A float as JSON: enough digits to give the float back; null for NaN/inf. */
static void sb_json_num(sbuf *b, double v)
{
    if (!isfinite(v)) { sb_puts(b, "null"); return; }
    sb_printf(b, "%.9g", v);
}

static int sb_write(sbuf *b, const char *path, char *err, size_t errcap)
{
    if (b->oom) { snprintf(err, errcap, "%s: out of memory", path); return -1; }
    return ss_write_atomic(path, b->p ? b->p : "", err, errcap);
}

/* ------------------------------------------------------------ checks */

int ux_check_output(const char *path, char *err, size_t errcap)
{
    if (!path || !*path) { snprintf(err, errcap, "no file name given"); return -1; }
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) { snprintf(err, errcap, "%s: is a directory", path); return -1; }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errcap, "%s: not a regular file (a FIFO, device or socket): refusing to replace it", path);
            return -1;
        }
    }
    size_t l = strlen(path);
    if (path[l - 1] == '/') { snprintf(err, errcap, "%s: is a directory name", path); return -1; }
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0) { snprintf(err, errcap, "%s: directory %s: %s", path, dir, strerror(errno)); return -1; }
    if (!S_ISDIR(st.st_mode)) { snprintf(err, errcap, "%s: %s is not a directory", path, dir); return -1; }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errcap, "%s: directory %s is not writable", path, dir);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ traces */

int ux_trace_write(const char *path, const ux_tok *toks, int n, char *err, size_t errcap)
{
    if (ux_check_output(path, err, errcap)) return -1;
    sbuf b = {0};
    for (int i = 0; i < n; i++) {
        const ux_tok *t = &toks[i];
        sb_printf(&b, "{\"index\": %d, \"id\": %d, ", i, (int)t->id);
        if (t->text) {
            sb_puts(&b, "\"text\": ");
            sb_json_str(&b, t->text, t->text_len);
            sb_puts(&b, ", ");
        }
        sb_printf(&b, "\"steps\": %d, \"exit_values\": [", t->steps);
        for (int k = 0; k < t->n_trace; k++) {
            if (k) sb_puts(&b, ", ");
            sb_json_num(&b, t->trace[k]);
        }
        sb_puts(&b, "]}\n");
    }
    int rc = sb_write(&b, path, err, errcap);
    free(b.p);
    return rc;
}

int ux_last_reply(const us_session *s)
{
    for (int i = s->n - 1; i >= 0; i--)
        if (!strcmp(s->msg[i].role, "Huginn") && s->msg[i].n_tok > 0) return i;
    return -1;
}

int ux_trace_msg(const us_msg *m, const hg_tokenizer *tok, const char *path, char *err, size_t errcap)
{
    ux_tok *v = calloc((size_t)(m->n_tok ? m->n_tok : 1), sizeof *v);
    if (!v) { snprintf(err, errcap, "out of memory"); return -1; }
    for (int i = 0; i < m->n_tok; i++) {
        const us_token *t = &m->tok[i];
        int b = i + 1 < m->n_tok ? m->tok[i + 1].start : (int)m->len;
        v[i].id = t->id;
        v[i].text = m->content + t->start;
        v[i].text_len = (size_t)(b - t->start);
        if (v[i].text_len == 0 && tok && hg_tokenizer_is_special(tok, t->id) && hg_tokenizer_id_text(tok, t->id)) {
            v[i].text = hg_tokenizer_id_text(tok, t->id);
            v[i].text_len = strlen(v[i].text);
        }
        v[i].steps = t->steps;
        v[i].trace = t->trace;
        v[i].n_trace = t->n_trace;
    }
    int rc = ux_trace_write(path, v, m->n_tok, err, errcap);
    free(v);
    return rc;
}

/* -------------------------------------------------------------- HTML */

int ux_is_html(const char *path)
{
    size_t l = strlen(path);
    return (l > 5 && !strcasecmp(path + l - 5, ".html")) || (l > 4 && !strcasecmp(path + l - 4, ".htm"));
}

/* Text for HTML: & < > " ' escaped, invalid UTF-8 and control characters
 * (but \n and \t) replaced by U+FFFD. */
static void sb_html(sbuf *b, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '&') { sb_puts(b, "&amp;"); i++; continue; }
        if (c == '<') { sb_puts(b, "&lt;"); i++; continue; }
        if (c == '>') { sb_puts(b, "&gt;"); i++; continue; }
        if (c == '"') { sb_puts(b, "&quot;"); i++; continue; }
        if (c == '\'') { sb_puts(b, "&#39;"); i++; continue; }
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) sb_puts(b, "\xef\xbf\xbd");
            else sb_put(b, (const char *)&c, 1);
            i++;
            continue;
        }
        /* a whole, valid UTF-8 sequence (no overlongs, surrogates or > U+10FFFF) */
        int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
        if (c > 0xf4) n = 0;
        int okay = n > 0 && i + (size_t)n <= len;
        uint32_t cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
        for (int k = 1; okay && k < n; k++) {
            unsigned char d = (unsigned char)s[i + k];
            if ((d & 0xc0) != 0x80) okay = 0;
            cp = (cp << 6) | (d & 0x3f);
        }
        if (okay && ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))))
            okay = 0;
        if (okay && (cp == 0xfffe || cp == 0xffff || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp >= 0x80 && cp < 0xa0))) {
            sb_puts(b, "\xef\xbf\xbd");   /* noncharacters and C1 controls */
            i += (size_t)n;
            continue;
        }
        if (!okay) { sb_puts(b, "\xef\xbf\xbd"); i++; continue; }
        sb_put(b, s + i, (size_t)n);
        i += (size_t)n;
    }
}

static void sb_html_str(sbuf *b, const char *s) { sb_html(b, s, strlen(s)); }

/* xterm's 256 colours as 0xRRGGBB. */
static int xterm_rgb(int idx)
{
    static const int base[16] = {0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd, 0xe5e5e5,
                                 0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff};
    if (idx < 0) return -1;
    if (idx < 16) return base[idx];
    if (idx < 232) {
        static const int lv[6] = {0, 95, 135, 175, 215, 255};
        int i = idx - 16;
        return lv[i / 36] << 16 | lv[(i / 6) % 6] << 8 | lv[i % 6];
    }
    if (idx < 256) {
        int g = 8 + 10 * (idx - 232);
        return g << 16 | g << 8 | g;
    }
    return -1;
}

static int color_rgb(ut_color c) { return c.rgb >= 0 ? c.rgb : xterm_rgb(c.idx); }

/* CSS declarations of a theme style; fg0/bg0: the page's colours (for
 * reverse video with default colours). */
static void sb_css_style(sbuf *b, const ut_style *st, int fg0, int bg0)
{
    int fg = color_rgb(st->fg), bg = color_rgb(st->bg);
    if (st->attrs & UT_REVERSE) {
        int t = fg < 0 ? fg0 : fg;
        fg = bg < 0 ? bg0 : bg;
        bg = t;
    }
    if (fg >= 0) sb_printf(b, "color:#%06x;", fg);
    if (bg >= 0) sb_printf(b, "background:#%06x;", bg);
    if (st->attrs & UT_BOLD) sb_puts(b, "font-weight:bold;");
    if (st->attrs & UT_ITALIC) sb_puts(b, "font-style:italic;");
    if (st->attrs & UT_UNDERLINE) sb_puts(b, "text-decoration:underline;");
    if (st->attrs & UT_DIM) sb_puts(b, "opacity:.65;");
}

static const char html_css[] =
    "*{box-sizing:border-box}\n"
    "body{margin:0;padding:1.5em;font:15px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;"
    "background:var(--bg);color:var(--fg)}\n"
    "header{border-bottom:1px solid var(--line);margin-bottom:1em;padding-bottom:.6em}\n"
    "h1{font-size:1.3em;margin:0 0 .3em}\n"
    ".meta,.stats{color:var(--dim);font-weight:normal;font-size:.85em}\n"
    ".legend{margin-top:.5em}.legend span{padding:0 .4em;margin-right:.2em;border-radius:2px}\n"
    ".msg{margin:0 0 1.2em}\n"
    ".msg h2{font-size:1em;margin:0 0 .2em}\n"
    ".user h2{color:var(--user)}.huginn h2,.run h2{color:var(--bot)}.system h2{color:var(--dim)}\n"
    ".text{white-space:pre-wrap;word-wrap:break-word;padding-left:1em;border-left:3px solid var(--line)}\n"
    ".user .text{border-color:var(--user)}.huginn .text,.run .text{border-color:var(--bot)}\n"
    ".t{border-radius:2px;cursor:default}.t:empty{display:inline-block;width:.35em;height:1em;vertical-align:middle}\n"
    ".t:hover,.t.on{outline:2px solid var(--fg)}\n"
    ".sweep{margin:0 0 1.2em;padding:.6em;border:1px solid var(--line);border-radius:4px}\n"
    ".sweep>h2{font-size:1em;margin:0 0 .5em;color:var(--bot)}\n"
    ".runs{display:grid;grid-template-columns:repeat(auto-fit,minmax(18em,1fr));gap:1em;overflow-x:auto}\n"
    ".runs .msg{margin:0}\n"
    "#tip{position:fixed;z-index:10;max-width:24em;padding:.5em .7em;border:1px solid var(--line);border-radius:4px;"
    "background:var(--tipbg);color:var(--fg);font-size:13px;pointer-events:none;box-shadow:0 2px 8px rgba(0,0,0,.4)}\n"
    "#tip[hidden]{display:none}\n"
    "#tip svg{display:block;margin-top:.3em}\n"
    "footer{color:var(--dim);font-size:.8em;margin-top:2em}\n";

/* The tooltip: the token's text, steps, criterion and its exit values as a
 * small SVG plot (log scale, threshold dashed).  No "</" inside. */
static const char html_js[] =
    "(function(){\n"
    "'use strict';\n"
    "var NS='http://www.w3.org/2000/svg';\n"
    "var tip=document.getElementById('tip');\n"
    "function el(n,a,p){var e=document.createElementNS(NS,n);for(var k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}\n"
    "function fmt(v){if(v===0)return '0';var a=Math.abs(v);return (a<0.01||a>=1e5)?v.toExponential(2):v.toPrecision(3);}\n"
    "function plot(vals,thr){\n"
    "  var W=240,H=90,L=42,B=14,T=6,R=6,lo=Infinity,hi=-Infinity,i,v;\n"
    "  for(i=0;i<vals.length;i++){v=vals[i];if(v>0&&isFinite(v)){v=Math.log(v)/Math.LN10;if(v<lo)lo=v;if(v>hi)hi=v;}}\n"
    "  if(thr>0){v=Math.log(thr)/Math.LN10;if(v<lo)lo=v;if(v>hi)hi=v;}\n"
    "  var svg=el('svg',{width:W,height:H,viewBox:'0 0 '+W+' '+H});\n"
    "  el('rect',{x:L,y:T,width:W-L-R,height:H-T-B,fill:'none',stroke:'currentColor','stroke-opacity':'0.3'},svg);\n"
    "  if(!isFinite(lo)){var t0=el('text',{x:L+6,y:H/2,'font-size':'11',fill:'currentColor'},svg);"
    "t0.textContent='no exit values';return svg;}\n"
    "  if(hi-lo<1){lo-=0.5;hi+=0.5;}\n"
    "  var n=vals.length,xs=function(k){return L+(n>1?k*(W-L-R)/(n-1):(W-L-R)/2);};\n"
    "  var ys=function(l){return T+(hi-l)*(H-T-B)/(hi-lo);};\n"
    "  var a=el('text',{x:2,y:T+9,'font-size':'10',fill:'currentColor'},svg);a.textContent=fmt(Math.pow(10,hi));\n"
    "  var b=el('text',{x:2,y:H-B,'font-size':'10',fill:'currentColor'},svg);b.textContent=fmt(Math.pow(10,lo));\n"
    "  var c=el('text',{x:L,y:H-2,'font-size':'10',fill:'currentColor'},svg);c.textContent='step 1';\n"
    "  var d=el('text',{x:W-R,y:H-2,'font-size':'10',fill:'currentColor','text-anchor':'end'},svg);d.textContent=String(n);\n"
    "  if(thr>0){var ty=ys(Math.log(thr)/Math.LN10);el('line',{x1:L,x2:W-R,y1:ty,y2:ty,stroke:'#ff875f','stroke-dasharray':'4 3'},svg);}\n"
    "  var pts=[];\n"
    "  for(i=0;i<n;i++){v=vals[i];if(v>0&&isFinite(v)){var x=xs(i),y=ys(Math.log(v)/Math.LN10);pts.push(x.toFixed(1)+','+y.toFixed(1));"
    "el('circle',{cx:x,cy:y,r:2,fill:(thr>0&&v<thr)?'#ff875f':'#5fafd7'},svg);}}\n"
    "  if(pts.length>1)el('polyline',{points:pts.join(' '),fill:'none',stroke:'#5fafd7','stroke-width':'1.5'},svg);\n"
    "  return svg;\n"
    "}\n"
    "function show(t,ev){\n"
    "  var vals=(t.getAttribute('data-trace')||'').split(',').filter(function(s){return s!=='';}).map(function(s){return s==='n'?NaN:parseFloat(s);});\n"
    "  var thr=parseFloat(t.getAttribute('data-thr'));\n"
    "  while(tip.firstChild)tip.removeChild(tip.firstChild);\n"
    "  var h=document.createElement('div');\n"
    "  var q=document.createElement('b');q.textContent='\\u00ab'+t.textContent.replace(/\\n/g,'\\\\n')+'\\u00bb';h.appendChild(q);\n"
    "  h.appendChild(document.createTextNode('  '+t.getAttribute('data-steps')+' steps  \\u00b7 token '+t.getAttribute('data-i')+"
    "'  \\u00b7 id '+t.getAttribute('data-id')));\n"
    "  tip.appendChild(h);\n"
    "  var crit=t.getAttribute('data-crit');\n"
    "  if(vals.length){var s=document.createElement('div');s.textContent=(crit||'exit value')+(thr>0?' \\u00b7 threshold '+fmt(thr):'')"
    "+' \\u00b7 last '+fmt(vals[vals.length-1]);tip.appendChild(s);tip.appendChild(plot(vals,thr));}\n"
    "  else{var s2=document.createElement('div');s2.textContent='no convergence trace recorded';tip.appendChild(s2);}\n"
    "  tip.hidden=false;move(ev);\n"
    "}\n"
    "function move(ev){var x=ev.clientX+14,y=ev.clientY+14,w=tip.offsetWidth,h=tip.offsetHeight;"
    "if(x+w>window.innerWidth-4)x=Math.max(4,ev.clientX-w-14);if(y+h>window.innerHeight-4)y=Math.max(4,ev.clientY-h-14);"
    "tip.style.left=x+'px';tip.style.top=y+'px';}\n"
    "document.addEventListener('mouseover',function(ev){var t=ev.target;if(t&&t.classList&&t.classList.contains('t'))show(t,ev);});\n"
    "document.addEventListener('mousemove',function(ev){if(!tip.hidden)move(ev);});\n"
    "document.addEventListener('mouseout',function(ev){var t=ev.target;if(t&&t.classList&&t.classList.contains('t'))tip.hidden=true;});\n"
    "})();\n";

static void html_tokens(sbuf *b, const us_msg *m, int heat_max)
{
    sb_puts(b, "<div class=\"text reply\">");
    const char *c = m->content ? m->content : "";
    /* text before the first token (none in practice) */
    int first = m->n_tok ? m->tok[0].start : (int)m->len;
    sb_html(b, c, (size_t)first);
    for (int t = 0; t < m->n_tok; t++) {
        const us_token *k = &m->tok[t];
        int a = k->start, e = t + 1 < m->n_tok ? m->tok[t + 1].start : (int)m->len;
        if (e < a) e = a;
        sb_printf(b, "<span class=\"t h%d%s\" data-steps=\"%d\" data-i=\"%d\" data-id=\"%d\"", uh_level(k->steps, heat_max),
                  ss_is_sweep(m) && t == m->diverge ? " diverge" : "", k->steps, t + 1, (int)k->id);
        if (k->n_trace > 0) {
            sb_puts(b, " data-trace=\"");
            for (int i = 0; i < k->n_trace; i++) {
                if (i) sb_puts(b, ",");
                if (isfinite(k->trace[i])) sb_printf(b, "%.4g", k->trace[i]);
                else sb_puts(b, "n");
            }
            sb_puts(b, "\"");
            if (k->criterion > HG_CRIT_OFF && k->criterion < HG_CRIT_COUNT)
                sb_printf(b, " data-crit=\"%s\"", hg_criterion_name((hg_criterion)k->criterion));
            if (isfinite(k->threshold)) sb_printf(b, " data-thr=\"%.6g\"", k->threshold);
        }
        sb_puts(b, ">");
        sb_html(b, c + a, (size_t)(e - a));
        sb_puts(b, "</span>");
    }
    sb_puts(b, "</div>\n");
}

static void html_msg(sbuf *b, const us_msg *m, int heat_max)
{
    int sweep = ss_is_sweep(m);
    const char *cls = !strcmp(m->role, "user") ? "user" : !strcmp(m->role, "system") ? "system" : sweep ? "run" : "huginn";
    sb_printf(b, "<section class=\"msg %s\"", cls);
    if (sweep) sb_printf(b, " data-num-steps=\"%d\"", m->num_steps);
    sb_puts(b, "><h2>");
    if (sweep) sb_printf(b, "sweep · steps %d", m->num_steps);
    else sb_puts(b, !strcmp(cls, "user") ? "You" : !strcmp(cls, "system") ? "System" : "Huginn");
    if (m->n_tok) {
        sb_printf(b, " <span class=\"stats\">%d token%s · %.2f steps/token", m->n_tok, m->n_tok == 1 ? "" : "s",
                  ss_mean_steps(m));
        if (m->tok_per_s > 0) sb_printf(b, " · %.1f tok/s", m->tok_per_s);
        if (m->stopped) sb_puts(b, " · stopped");
        if (sweep && m->diverge >= 0) sb_printf(b, " · departs from the deepest at token %d", m->diverge + 1);
        sb_puts(b, "</span>");
    }
    sb_puts(b, "</h2>\n");
    if (m->n_tok) html_tokens(b, m, heat_max);
    else {
        sb_puts(b, "<div class=\"text\">");
        sb_html(b, m->content ? m->content : "", m->len);
        sb_puts(b, "</div>\n");
    }
    sb_puts(b, "</section>\n");
}

int ux_export_html(const us_session *s, const ut_theme *th, const char *path, char *err, size_t errcap)
{
    if (ux_check_output(path, err, errcap)) return -1;
    ut_theme def;
    if (!th) { ut_builtin(&def, "default"); th = &def; }
    int light = strstr(th->name, "light") != NULL;
    int fg0 = light ? 0x1c1c1c : 0xd0d0d0, bg0 = light ? 0xfafafa : 0x161821;
    int heat_max = 1;
    for (int i = 0; i < s->n; i++)
        for (int t = 0; t < s->msg[i].n_tok; t++)
            if (s->msg[i].tok[t].steps > heat_max) heat_max = s->msg[i].tok[t].steps;
    sbuf b = {0};
    sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>Huginn conversation</title>\n<style>\n");
    int user = color_rgb(th->role[R_USER_HDR].fg), bot = color_rgb(th->role[R_BOT_HDR].fg);
    int dim = color_rgb(th->role[R_DIM].fg), line = color_rgb(th->role[R_BORDER].fg);
    sb_printf(&b, ":root{--bg:#%06x;--fg:#%06x;--tipbg:#%06x;--user:#%06x;--bot:#%06x;--dim:#%06x;--line:#%06x}\n", bg0, fg0,
              light ? 0xffffff : 0x262a36, user >= 0 ? user : fg0, bot >= 0 ? bot : fg0, dim >= 0 ? dim : 0x808080,
              line >= 0 ? line : 0x808080);
    sb_puts(&b, html_css);
    for (int l = 0; l < UT_HEAT_LEVELS; l++) {
        sb_printf(&b, ".h%d{", l);
        sb_css_style(&b, &th->role[R_HEAT0 + l], fg0, bg0);
        sb_puts(&b, "}\n");
    }
    sb_puts(&b, ".t.diverge,.dkey{");
    sb_css_style(&b, &th->role[R_DIVERGE], fg0, bg0);
    sb_puts(&b, "}\n</style>\n</head>\n<body>\n<header>\n<h1>Huginn conversation</h1>\n<div class=\"meta\">");
    if (s->model[0]) {
        sb_puts(&b, "model ");
        sb_html_str(&b, s->model);
        sb_puts(&b, " · ");
    }
    if (s->server[0]) {
        sb_puts(&b, "served by ");
        sb_html_str(&b, s->server);
        sb_puts(&b, " · ");
    }
    int n_tok = 0;
    for (int i = 0; i < s->n; i++) n_tok += s->msg[i].n_tok;
    sb_printf(&b, "%d messages · %d reply tokens · theme ", s->n, n_tok);
    sb_html_str(&b, th->name);
    sb_puts(&b, " · hover a token for its steps and convergence trace</div>\n<div class=\"legend\">heat ");
    for (int l = 0; l < UT_HEAT_LEVELS; l++) {
        int lo = 0, hi = -1;
        for (int st = 1; st <= heat_max; st++)
            if (uh_level(st, heat_max) == l) { if (!lo) lo = st; hi = st; }
        if (!lo) continue;
        if (lo == hi) sb_printf(&b, "<span class=\"h%d\" data-level=\"%d\">%d</span>", l, l, lo);
        else sb_printf(&b, "<span class=\"h%d\" data-level=\"%d\">%d-%d</span>", l, l, lo, hi);
    }
    sb_puts(&b, " steps per token");
    int any_sweep = 0;
    for (int i = 0; i < s->n; i++) any_sweep |= ss_is_sweep(&s->msg[i]);
    if (any_sweep) sb_puts(&b, " · <span class=\"dkey\">marked</span>: where a sweep run departs from its deepest run");
    sb_puts(&b, "</div>\n</header>\n<main>\n");
    for (int i = 0; i < s->n;) {
        const us_msg *m = &s->msg[i];
        if (!ss_is_sweep(m)) { html_msg(&b, m, heat_max); i++; continue; }
        /* a sweep: its runs side by side */
        int j = i;
        while (j < s->n && ss_is_sweep(&s->msg[j]) && s->msg[j].sweep == m->sweep) j++;
        sb_printf(&b, "<div class=\"sweep\" data-sweep=\"%d\">\n<h2>sweep %d · steps", m->sweep, m->sweep);
        for (int k = i; k < j; k++) sb_printf(&b, "%s%d", k > i ? ", " : " ", s->msg[k].num_steps);
        sb_puts(&b, "</h2>\n<div class=\"runs\">\n");
        for (int k = i; k < j; k++) html_msg(&b, &s->msg[k], heat_max);
        sb_puts(&b, "</div>\n</div>\n");
        i = j;
    }
    sb_puts(&b, "</main>\n<footer>exported by huginn</footer>\n<div id=\"tip\" hidden></div>\n<script>\n");
    sb_puts(&b, html_js);
    sb_puts(&b, "</script>\n</body>\n</html>\n");
    int rc = sb_write(&b, path, err, errcap);
    free(b.p);
    return rc;
}

int ux_export(const us_session *s, const ut_theme *th, const char *path, char *err, size_t errcap)
{
    if (ux_check_output(path, err, errcap)) return -1;
    if (ux_is_html(path)) return ux_export_html(s, th, path, err, errcap);
    return ss_export_md(s, path, err, errcap);
}
