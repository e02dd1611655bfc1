/* cmd_plot.c — `sparsa plot RESULT.json... -o FIG.svg`: read perplexity and kld results
 * (plot_data.c), draw their panels (plot_chart.c) into one standalone SVG and write it
 * atomically. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "commands.h"
#include "plot_data.h"

#define CMD "plot"
#define RESULT_MAX_BYTES ((uint64_t)256 << 20)

typedef struct plot_options {
    const char *out;
} plot_options;

static const cli_option options[] = {
    {.name = "--out", .alias = "-o", .kind = CLI_STRING, .offset = offsetof(plot_options, out),
     .metavar = "FIG.svg", .help = "the SVG file to write (required; '-' for stdout)"},
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "RESULT.json... -o FIG.svg",
    .about = "Draws result files of `perplexity --json` and `kld --json` as one SVG figure: "
             "perplexity\nagainst context length (log scale, one line per model and file), mean "
             "NLL against position\nbucket when the results carry by_position, and a histogram "
             "of the per-position KL divergence\nfor each kld result.\n",
    .options = options,
    .max_positional = SIZE_MAX,
};

static int read_results(plot_figure *fig, const cli_args *a, sp_error *err) {
    for (size_t i = 0; i < a->n_pos; i++) {
        char *text = NULL;
        size_t len = 0;
        int rc = sp_read_file(a->pos[i], RESULT_MAX_BYTES, &text, &len, err);
        if (rc) return rc;
        sp_jv doc;
        sp_error jerr = {0};
        rc = sp_jv_parse(text, len, &doc, &jerr);
        free(text);
        if (rc) return sp_fail(err, jerr.code, "%s: not JSON: %s", a->pos[i], jerr.msg);
        rc = plot_figure_add(fig, a->pos[i], &doc, err);
        sp_jv_free(&doc);
        if (rc) return rc;
    }
    return SP_OK;
}

static int draw(plot_figure *fig, size_t panels, const char *path, sp_error *err) {
    sp_svg svg = {0};
    sp_svg_begin(&svg, PLOT_WIDTH, PLOT_PANEL_HEIGHT * (double)panels);
    double top = 0;
    if (fig->ppl.n) plot_panel_draw(&svg, top, &fig->ppl), top += PLOT_PANEL_HEIGHT;
    if (fig->nll.n) plot_panel_draw(&svg, top, &fig->nll), top += PLOT_PANEL_HEIGHT;
    for (size_t i = 0; i < fig->n_kld; i++, top += PLOT_PANEL_HEIGHT)
        plot_panel_draw(&svg, top, &fig->kld[i]);
    char *doc = NULL;
    size_t len = 0;
    int rc = sp_svg_finish(&svg, &doc, &len, err);
    sp_out out = {0};
    if (!rc) rc = sp_out_open(&out, path, 1, err);
    if (!rc && fwrite(doc, 1, len, out.fp) != len)
        rc = sp_fail(err, SP_ERR_RUNTIME, "%s: write failed", path);
    if (!rc) rc = sp_out_commit(&out, err);
    sp_out_abort(&out);
    free(doc);
    return rc;
}

int cmd_plot(int argc, char **argv) {
    plot_options o = {0};
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing a RESULT.json file");
    if (!o.out) return cli_usage_error(CMD, "-o FIG.svg is required");
    for (size_t i = 0; i < a.n_pos; i++) sp_inputs_add(a.pos[i]);
    sp_error err = {0};
    rc = sp_output_check(o.out, 1, &err);
    if (rc) return cli_report(CMD, &err);
    plot_figure fig;
    plot_figure_init(&fig);
    rc = read_results(&fig, &a, &err);
    size_t panels = rc ? 0 : plot_figure_finish(&fig);
    if (!rc && !panels) rc = sp_fail(&err, SP_ERR_INPUT, "nothing to plot");
    if (!rc) rc = draw(&fig, panels, o.out, &err);
    plot_figure_free(&fig);
    return rc ? cli_report(CMD, &err) : 0;
}
