/* mc_tasks.c — multiple-choice task files (JSONL, one question per line) in the layouts of
 * hellaswag, winogrande, ARC and a generic one, turned into (context, continuation) pairs the
 * way lm-evaluation-harness builds its zero-shot requests (docs/WORKBENCH.md gives each). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_workbench.h"

#define MC_MAX_BYTES ((uint64_t)1 << 30)

const char *sp_mc_format_name(sp_mc_format f) {
    static const char *const names[] = {"hellaswag", "winogrande", "arc", "generic", "auto"};
    return (unsigned)f <= SP_MC_AUTO ? names[f] : "?";
}

/* Python's str.strip() for ASCII white space. */
static void strip(const char **s, size_t *n) {
    while (*n && isspace((unsigned char)**s)) (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

char *sp_mc_hellaswag_clean(const char *text) {
    const char *s = text;
    size_t n = strlen(text);
    strip(&s, &n);
    sp_strbuf a = {0}, b = {0}, c = {0};
    for (size_t i = 0; i < n; i++) /* " [title]" → ". " */
        if (n - i >= 8 && !memcmp(s + i, " [title]", 8)) sp_sb_puts(&a, ". "), i += 7;
        else sp_sb_put(&a, s + i, 1);
    for (size_t i = 0; i < a.len; i++) { /* drop "[...]" (non-greedy, not across lines) */
        const char *close = a.s[i] == '[' ? memchr(a.s + i, ']', a.len - i) : NULL;
        const char *nl = close ? memchr(a.s + i, '\n', (size_t)(close - (a.s + i))) : NULL;
        if (close && !nl) i = (size_t)(close - a.s);
        else sp_sb_put(&b, a.s + i, 1);
    }
    for (size_t i = 0; i < b.len; i++) /* "  " → " ", one pass left to right */
        if (b.len - i >= 2 && b.s[i] == ' ' && b.s[i + 1] == ' ') sp_sb_put(&c, " ", 1), i++;
        else sp_sb_put(&c, b.s + i, 1);
    int oom = a.oom || b.oom || c.oom;
    sp_sb_free(&a);
    sp_sb_free(&b);
    if (oom) {
        sp_sb_free(&c);
        return NULL;
    }
    return sp_sb_take(&c);
}

static const char *str_of(const sp_jv *o, const char *key) {
    const sp_jv *v = sp_jv_get(o, key);
    return v && v->type == SP_JV_STRING ? v->str : NULL;
}

/* An index given as a number or as a string of digits ("3"), as the official files give it. */
static int index_of(const sp_jv *v, size_t *out) {
    if (v && v->type == SP_JV_NUMBER && v->number >= 0 && v->number < 1e9 &&
        v->number == floor(v->number)) {
        *out = (size_t)v->number;
        return 1;
    }
    if (v && v->type == SP_JV_STRING && v->len && v->len < 10 &&
        strspn(v->str, "0123456789") == v->len) {
        *out = (size_t)strtoul(v->str, NULL, 10);
        return 1;
    }
    return 0;
}

static int item_alloc(sp_mc_item *it, size_t n) {
    it->n_choices = n;
    it->context = calloc(n, sizeof *it->context);
    it->continuation = calloc(n, sizeof *it->continuation);
    it->norm_bytes = calloc(n, sizeof *it->norm_bytes);
    return it->context && it->continuation && it->norm_bytes;
}

/* Choice c: context ctx and continuation " " + target. */
static int set_choice(sp_mc_item *it, size_t c, const char *ctx, size_t ctx_len,
                      const char *target) {
    sp_strbuf cont = {0};
    sp_sb_puts(&cont, " ");
    sp_sb_puts(&cont, target);
    it->context[c] = strndup(ctx, ctx_len);
    it->norm_bytes[c] = strlen(target);
    it->continuation[c] = cont.oom ? NULL : sp_sb_take(&cont);
    sp_sb_free(&cont);
    return it->context[c] && it->continuation[c];
}

/* A list of strings as choices after one context (hellaswag, arc, generic). */
static const char *choices_from_list(sp_mc_item *it, const char *ctx, const sp_jv *list,
                                     int clean) {
    if (!list || list->type != SP_JV_ARRAY || list->n < 2) return "needs a list of at least 2 choices";
    if (!item_alloc(it, list->n)) return "";
    for (size_t c = 0; c < list->n; c++) {
        if (list->items[c].type != SP_JV_STRING) return "a choice is not a string";
        char *t = clean ? sp_mc_hellaswag_clean(list->items[c].str) : strdup(list->items[c].str);
        int ok = t && set_choice(it, c, ctx, strlen(ctx), t);
        free(t);
        if (!ok) return "";
    }
    return NULL;
}

static const char *build_hellaswag(const sp_jv *o, sp_mc_item *it) {
    const char *act = str_of(o, "activity_label"), *a = str_of(o, "ctx_a"), *b = str_of(o, "ctx_b");
    if (!act || !a || !b) return "needs the strings activity_label, ctx_a and ctx_b";
    if (!index_of(sp_jv_get(o, "label"), &it->gold)) return "needs label, an index";
    sp_strbuf q = {0}; /* activity_label + ": " + ctx_a + " " + ctx_b.capitalize() */
    sp_sb_printf(&q, "%s: %s ", act, a);
    for (size_t i = 0; b[i]; i++) {
        char ch = i ? (char)tolower((unsigned char)b[i]) : (char)toupper((unsigned char)b[i]);
        sp_sb_put(&q, (unsigned char)b[i] < 0x80 ? &ch : b + i, 1);
    }
    char *raw = q.oom ? NULL : sp_sb_take(&q);
    sp_sb_free(&q);
    char *query = raw ? sp_mc_hellaswag_clean(raw) : NULL;
    free(raw);
    const char *why = query ? choices_from_list(it, query, sp_jv_get(o, "endings"), 1) : "";
    free(query);
    return why;
}

static const char *build_winogrande(const sp_jv *o, sp_mc_item *it) {
    const char *s = str_of(o, "sentence"), *o1 = str_of(o, "option1"), *o2 = str_of(o, "option2");
    if (!s || !o1 || !o2) return "needs the strings sentence, option1 and option2";
    const char *blank = strchr(s, '_');
    if (!blank) return "the sentence has no '_'";
    if (!index_of(sp_jv_get(o, "answer"), &it->gold) || it->gold < 1 || it->gold > 2)
        return "needs answer, \"1\" or \"2\"";
    it->gold--;
    const char *t = blank + 1; /* the target: the sentence after '_', stripped */
    size_t tn = strlen(t);
    strip(&t, &tn);
    char *target = strndup(t, tn);
    if (!target || !item_alloc(it, 2)) return free(target), "";
    const char *opt[2] = {o1, o2};
    int ok = 1;
    for (size_t c = 0; c < 2 && ok; c++) {
        sp_strbuf ctx = {0};
        sp_sb_put(&ctx, s, (size_t)(blank - s));
        sp_sb_puts(&ctx, opt[c]);
        ok = !ctx.oom && set_choice(it, c, ctx.s ? ctx.s : "", ctx.len, target);
        sp_sb_free(&ctx);
    }
    free(target);
    return ok ? NULL : "";
}

static const char *build_arc(const sp_jv *o, sp_mc_item *it) {
    const char *q = str_of(o, "question"), *key = str_of(o, "answerKey");
    const sp_jv *ch = sp_jv_get(o, "choices");
    const sp_jv *text = sp_jv_get(ch, "text"), *label = sp_jv_get(ch, "label");
    if (!q || !key || !text || !label || label->type != SP_JV_ARRAY)
        return "needs question, answerKey and choices {text, label}";
    if (text->type != SP_JV_ARRAY || text->n != label->n) return "choices.text and choices.label differ in length";
    it->gold = SIZE_MAX;
    for (size_t i = 0; i < label->n; i++)
        if (label->items[i].type == SP_JV_STRING && !strcmp(label->items[i].str, key)) it->gold = i;
    if (it->gold == SIZE_MAX) return "answerKey is not one of choices.label";
    sp_strbuf ctx = {0};
    sp_sb_printf(&ctx, "Question: %s\nAnswer:", q);
    const char *why = ctx.oom ? "" : choices_from_list(it, ctx.s, text, 0);
    sp_sb_free(&ctx);
    return why;
}

static const char *build_generic(const sp_jv *o, sp_mc_item *it) {
    const char *ctx = str_of(o, "context");
    if (!ctx) return "needs the string context";
    if (!index_of(sp_jv_get(o, "label"), &it->gold)) return "needs label, an index";
    return choices_from_list(it, ctx, sp_jv_get(o, "choices"), 0);
}

static void item_free(sp_mc_item *it) {
    for (size_t c = 0; c < it->n_choices; c++) {
        if (it->context) free(it->context[c]);
        if (it->continuation) free(it->continuation[c]);
    }
    free(it->context);
    free(it->continuation);
    free(it->norm_bytes);
    memset(it, 0, sizeof *it);
}

/* The layout of the first question, from its keys. */
static sp_mc_format detect(const sp_jv *o) {
    if (sp_jv_get(o, "ctx_a") && sp_jv_get(o, "endings")) return SP_MC_HELLASWAG;
    if (sp_jv_get(o, "option1") && sp_jv_get(o, "sentence")) return SP_MC_WINOGRANDE;
    if (sp_jv_get(o, "answerKey") && sp_jv_get(o, "question")) return SP_MC_ARC;
    if (sp_jv_get(o, "context") && sp_jv_get(o, "choices")) return SP_MC_GENERIC;
    return SP_MC_AUTO;
}

static int parse_line(const char *name, size_t line, const char *s, size_t n,
                      sp_mc_format *fmt, sp_mc_item *it, sp_error *err) {
    sp_jv o;
    sp_error jerr = {0};
    if (sp_jv_parse(s, n, &o, &jerr))
        return sp_fail(err, jerr.code, "%s: line %zu: %s", name, line, jerr.msg);
    const char *why = "is not a JSON object";
    if (o.type == SP_JV_OBJECT && *fmt == SP_MC_AUTO && (*fmt = detect(&o)) == SP_MC_AUTO) {
        sp_jv_free(&o);
        return sp_fail(err, SP_ERR_INPUT, "%s: line %zu: cannot tell the layout from its keys "
                       "(give --format)", name, line);
    }
    sp_mc_format f = *fmt;
    if (o.type == SP_JV_OBJECT) {
        const char *(*build[])(const sp_jv *, sp_mc_item *) = {build_hellaswag, build_winogrande,
                                                             build_arc, build_generic};
        why = build[f](&o, it);
        if (!why && it->gold >= it->n_choices) why = "the answer index is past the last choice";
    }
    sp_jv_free(&o);
    if (!why) return SP_OK;
    item_free(it);
    if (!*why) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    return sp_fail(err, SP_ERR_INPUT, "%s: line %zu (%s layout): %s", name, line,
                   sp_mc_format_name(f), why);
}

int sp_mc_parse(const char *name, const char *text, size_t len, sp_mc_format format,
                sp_mc_set *out, sp_error *err) {
    memset(out, 0, sizeof *out);
    size_t cap = 0, line = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - at;
        const char *s = text + at;
        line++;
        at = end + 1;
        size_t k = 0;
        while (k < n && isspace((unsigned char)s[k])) k++;
        if (k == n) continue; /* blank lines are allowed */
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            sp_mc_item *items = realloc(out->items, nc * sizeof *items);
            if (!items) return sp_mc_set_free(out), sp_fail(err, SP_ERR_RUNTIME, "out of memory");
            out->items = items;
            cap = nc;
        }
        memset(&out->items[out->n], 0, sizeof out->items[out->n]);
        int rc = parse_line(name, line, s, n, &format, &out->items[out->n], err);
        if (rc) return sp_mc_set_free(out), rc;
        out->n++;
    }
    if (!out->n) return sp_fail(err, SP_ERR_INPUT, "%s: no questions", name);
    out->format = format;
    return SP_OK;
}

int sp_mc_read(const char *path, sp_mc_format format, sp_mc_set *out, sp_error *err) {
    char *text = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    int rc = sp_read_file(path, MC_MAX_BYTES, &text, &len, err);
    if (rc) return rc;
    rc = sp_mc_parse(path, text, len, format, out, err);
    free(text);
    return rc;
}

void sp_mc_set_free(sp_mc_set *s) {
    for (size_t i = 0; s->items && i < s->n; i++) item_free(&s->items[i]);
    free(s->items);
    memset(s, 0, sizeof *s);
}
