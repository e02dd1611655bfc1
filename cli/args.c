/* args.c — the one argument parser of every `sparsa` command (args.h): option tables, values,
 * duplicate detection, positional arguments and the generated --help text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"

#define MAX_OPTIONS 64 /* rows per command table that duplicate detection tracks */

/* The row whose name or alias is `arg` (up to `len` bytes), or -1. */
static int find_option(const cli_option *opts, const char *arg, size_t len) {
    for (int i = 0; opts[i].name; i++) {
        const char *names[2] = {opts[i].name, opts[i].alias};
        for (int k = 0; k < 2; k++)
            if (names[k] && strlen(names[k]) == len && !strncmp(names[k], arg, len)) return i;
    }
    return -1;
}

static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
    if (*s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int parse_choice(const char *s, const char *const *choices, int *out) {
    for (int i = 0; choices[i]; i++)
        if (!strcmp(s, choices[i])) {
            *out = i;
            return 0;
        }
    return -1;
}

/* Stores one value of option o; prints the usage error and returns the exit status if bad. */
static int store_value(const cli_command *cmd, const cli_option *o, const char *value,
                       void *opts) {
    void *dest = (char *)opts + o->offset;
    char why[256] = "";
    int rc = 0;
    switch (o->kind) {
    case CLI_FLAG: *(int *)dest = 1; return 0;
    case CLI_STRING: *(const char **)dest = value; return 0;
    case CLI_UINT: rc = parse_uint(value, o->min, o->max, dest) ? 2 : 0; break;
    case CLI_CHOICE: rc = parse_choice(value, o->choices, dest) ? 2 : 0; break;
    case CLI_CUSTOM: rc = o->parse(value, dest, why, sizeof why); break;
    }
    if (rc == 1) {
        fprintf(stderr, "sparsa %s: out of memory\n", cmd->name);
        return 1;
    }
    if (rc) {
        if (why[0]) return cli_usage_error(cmd->name, "%s", why);
        if (o->bad) return cli_usage_error(cmd->name, "%s", o->bad);
        return cli_usage_error(cmd->name, "bad value '%s' for %s", value, o->name);
    }
    return 0;
}

/* Handles argv[*i], which starts with '-' and is not "-" or "--". */
static int take_option(const cli_command *cmd, int argc, char **argv, int *i, void *opts,
                       unsigned char *seen) {
    const char *a = argv[*i];
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    if (len == 6 && !strncmp(a, "--help", 6)) return CLI_HELP_SHOWN;
    if (len == 2 && !strncmp(a, "-h", 2)) return CLI_HELP_SHOWN;
    int k = find_option(cmd->options, a, len);
    if (k < 0) return cli_usage_error(cmd->name, "unknown option '%.*s'", (int)len, a);
    if (k >= MAX_OPTIONS) { /* a table longer than `seen` can track: the program's fault */
        fprintf(stderr, "sparsa %s: internal error: option table too long\n", cmd->name);
        return 1;
    }
    const cli_option *o = &cmd->options[k];
    if (seen[k] && !o->repeatable) return cli_usage_error(cmd->name, "%s given twice", o->name);
    seen[k] = 1;
    if (o->kind == CLI_FLAG) {
        if (eq) return cli_usage_error(cmd->name, "%s takes no value", o->name);
        return store_value(cmd, o, NULL, opts);
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
        if (*i + 1 >= argc) return cli_usage_error(cmd->name, "%s needs a value", o->name);
        value = argv[++*i];
    }
    return store_value(cmd, o, value, opts);
}

int cli_parse(const cli_command *cmd, int argc, char **argv, void *opts, cli_args *args) {
    unsigned char seen[MAX_OPTIONS] = {0};
    size_t n_pos = 0;
    int options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && !strcmp(a, "--")) {
            options_done = 1;
            continue;
        }
        if (!options_done && a[0] == '-' && a[1]) {
            int rc = take_option(cmd, argc, argv, &i, opts, seen);
            if (rc == CLI_HELP_SHOWN) cli_print_help(cmd, stdout);
            if (rc) return rc;
            continue;
        }
        if (n_pos == cmd->max_positional)
            return cli_usage_error(cmd->name, "unexpected argument '%s'", a);
        /* Positional slot n_pos + 1 <= i: compacting in place never overwrites unread args. */
        argv[1 + n_pos++] = (char *)a;
    }
    args->pos = (const char **)argv + 1;
    args->n_pos = n_pos;
    return 0;
}

/* "  -o, --out OUT" into buf. */
static void option_label(const cli_option *o, char *buf, size_t cap) {
    const char *shrt = o->alias && o->alias[1] != '-' ? o->alias : NULL;
    const char *lng = shrt ? o->name : o->alias ? o->alias : NULL;
    if (shrt) snprintf(buf, cap, "  %s, %s", shrt, o->name);
    else if (lng) snprintf(buf, cap, "  %s, %s", o->name, lng);
    else snprintf(buf, cap, "  %s", o->name);
    if (o->metavar) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, " %s", o->metavar);
    }
}

void cli_print_help(const cli_command *cmd, FILE *out) {
    fprintf(out, "usage: sparsa %s %s\n", cmd->name, cmd->synopsis);
    if (cmd->about) fprintf(out, "\n%s", cmd->about);
    fputs("\noptions:\n", out);
    char label[128];
    int width = 0;
    for (const cli_option *o = cmd->options; o->name; o++) {
        option_label(o, label, sizeof label);
        if ((int)strlen(label) > width) width = (int)strlen(label);
    }
    if (width > 30) width = 30;
    for (const cli_option *o = cmd->options; o->name; o++) {
        option_label(o, label, sizeof label);
        if ((int)strlen(label) > width) fprintf(out, "%s\n%*s  %s\n", label, width, "", o->help);
        else fprintf(out, "%-*s  %s\n", width, label, o->help);
    }
    fprintf(out, "%-*s  %s\n", width, "  -h, --help", "print this help");
    if (cmd->epilog) cmd->epilog(out);
}

int cli_require_file(const char *cmd, const char *what, const char *path) {
    if (strcmp(path, "-")) return 0;
    return cli_usage_error(cmd, "%s must name a file, not standard input", what);
}

int cli_split_commas(const char *value, int (*add)(const char *, size_t, void *), void *dest) {
    const char *p = value;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        int rc = add(p, n, dest);
        if (rc) return rc;
        if (!c) return 0;
        p = c + 1;
    }
}
