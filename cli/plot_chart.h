/* plot_chart.h — the charts of `sparsa plot` (plot_chart.c draws, plot_data.c fills them from
 * result files): panels of line series or of histogram bars, with axes, ticks, labels and a
 * legend, stacked in one SVG document. */
#ifndef SPARSA_CLI_PLOT_CHART_H
#define SPARSA_CLI_PLOT_CHART_H

#include <stddef.h>

#include "sparsa_svg.h"

#define PLOT_WIDTH 1000.0
#define PLOT_PANEL_HEIGHT 400.0

typedef struct plot_series {
    char *label;
    double *x, *y;
    size_t n, cap;
} plot_series;

typedef enum {
    PLOT_LINES = 0,  /* points joined in x order, one colour per series */
    PLOT_BARS        /* series 0 as bars of width bar_width centred on x, from y = 0 */
} plot_kind;

typedef struct plot_panel {
    char title[256];
    const char *xlabel, *ylabel;
    plot_kind kind;
    int logx;            /* x on a log2 scale, ticked at the data's x values */
    int x_pow10;         /* x tick labels as powers of ten ("1e-3") */
    double bar_width;
    plot_series *series;
    size_t n, cap;
} plot_panel;

/* The series labelled label in p (created empty when new); NULL when memory ran out. */
plot_series *plot_series_get(plot_panel *p, const char *label);
int plot_series_add(plot_series *s, double x, double y); /* 0, or -1 when memory ran out */
void plot_panel_free(plot_panel *p);

/* Draws p with its top edge at y = top (PLOT_WIDTH × PLOT_PANEL_HEIGHT). */
void plot_panel_draw(sp_svg *svg, double top, const plot_panel *p);

#endif
