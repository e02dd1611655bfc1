/* plot_data.h — the result files `sparsa plot` reads (perplexity and kld JSON) turned into
 * chart panels (plot_data.c). */
#ifndef SPARSA_CLI_PLOT_DATA_H
#define SPARSA_CLI_PLOT_DATA_H

#include "plot_chart.h"
#include "sparsa_workbench.h"

#define PLOT_MAX_PANELS 64

typedef struct plot_figure {
    plot_panel ppl;              /* PPL against context length, one series per model and file */
    plot_panel nll;              /* mean NLL against position bucket (results with by_position) */
    plot_panel kld[PLOT_MAX_PANELS]; /* one histogram per kld result */
    size_t n_kld;
} plot_figure;

void plot_figure_init(plot_figure *fig);
/* Adds one parsed result document (path names it in messages and labels). SP_ERR_INPUT, naming
 * path, when it is neither perplexity results (results[] with ctx and ppl) nor a kld result. */
int plot_figure_add(plot_figure *fig, const char *path, const sp_jv *doc, sp_error *err);
/* Sorts every line series by x; returns the number of panels with data. */
size_t plot_figure_finish(plot_figure *fig);
void plot_figure_free(plot_figure *fig);

#endif
