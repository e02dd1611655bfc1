/* main.c — the `sparsa` command: dispatch to a subcommand; every command ends through
 * sp_finish_stdout, so output that could not be written is exit 1, never a silent 0. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

#define SPARSA_VERSION "0.1.0"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"convert", cmd_convert, "convert a checkpoint (torch, Lightning, safetensors, HF folder) to a model file"},
    {"inspect", cmd_inspect, "show what a model file holds; --verify checks every checksum"},
    {"logits", cmd_logits, "run the model on token ids and print or write the logits"},
    {"tokenize", cmd_tokenize, "encode text to ids or decode ids to text with the model's tokenizer"},
    {"perplexity", cmd_perplexity, "perplexity on text corpora at one or more context lengths"},
    {"generate", cmd_generate, "generate tokens from a prompt"},
    {"eval-task", cmd_eval_task, "exact-match accuracy on a synthetic task (src/trg files)"},
    {"mc", cmd_mc, "zero-shot multiple-choice accuracy (hellaswag, winogrande, ARC, generic JSONL)"},
    {"kld", cmd_kld, "KL divergence, same-top rate and RMS dp of one model against another"},
    {"plot", cmd_plot, "draw perplexity and kld results as one SVG figure"},
    {"merge", cmd_merge, "join the part files of perplexity --shard K/N into one report"},
};

const char *cli_version(void) { return SPARSA_VERSION; }

static void usage(FILE *out) {
    fprintf(out, "usage: sparsa <command> [options]   (sparsa <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
}

int cli_report(const char *cmd, const sp_error *err) {
    fprintf(stderr, "sparsa %s: %s\n", cmd, err->msg[0] ? err->msg : "failed");
    return err->code ? err->code : SP_ERR_INPUT;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "sparsa %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see sparsa %s --help)\n", cmd);
    return SP_ERR_INPUT;
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "sparsa: no command given (see sparsa --help)\n");
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sparsa %s (model format %d.%d)\n", SPARSA_VERSION, SP_FORMAT_MAJOR, SP_FORMAT_MINOR);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sparsa: unknown command '%s' (see sparsa --help)\n", argv[1]);
    return 2;
}

/* Idle threads never spin; temporaries vanish on signals; a write error on stdout is a
 * failure (exit 1, one line). */
int main(int argc, char **argv) {
    cli_threads_setup(argv);
    sp_cleanup_install_signals();
    return sp_finish_stdout(dispatch(argc, argv));
}
