/* plot_chart.c — drawing one panel of `sparsa plot`: the data range (padded; a single point
 * still gets a range), "nice" linear ticks (1, 2, 5 × 10^k) or log2 ticks at the data's x
 * values, grid, axes, labels, the series and a legend to the right. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_chart.h"

#define LEFT 80.0
#define RIGHT_LEGEND 300.0
#define TOP_PAD 44.0
#define BOTTOM_PAD 62.0
#define LEGEND_MAX 14

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

plot_series *plot_series_get(plot_panel *p, const char *label) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->series[i].label, label)) return &p->series[i];
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        plot_series *s = realloc(p->series, nc * sizeof *s);
        if (!s) return NULL;
        p->series = s;
        p->cap = nc;
    }
    plot_series *s = &p->series[p->n];
    memset(s, 0, sizeof *s);
    if (!(s->label = strdup(label))) return NULL;
    p->n++;
    return s;
}

int plot_series_add(plot_series *s, double x, double y) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        double *nx = realloc(s->x, nc * sizeof *nx);
        if (nx) s->x = nx;
        double *ny = nx ? realloc(s->y, nc * sizeof *ny) : NULL;
        if (!ny) return -1;
        s->y = ny;
        s->cap = nc;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 0;
}

void plot_panel_free(plot_panel *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->series[i].label);
        free(p->series[i].x);
        free(p->series[i].y);
    }
    free(p->series);
    p->series = NULL;
    p->n = p->cap = 0;
}

typedef struct frame {
    double x0, x1, y0, y1;       /* data range (x in log2 when logx) */
    double left, right, top, bottom;
    int logx;
} frame;

static double fx(const frame *f, double x) {
    double v = f->logx ? log2(x) : x;
    return f->left + (v - f->x0) / (f->x1 - f->x0) * (f->right - f->left);
}

static double fy(const frame *f, double y) {
    return f->bottom - (y - f->y0) / (f->y1 - f->y0) * (f->bottom - f->top);
}

/* The data range; an empty or one-valued range is widened so every point has a place. */
static void data_range(const plot_panel *p, frame *f) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < p->n; i++)
        for (size_t k = 0; k < p->series[i].n; k++) {
            double x = p->series[i].x[k], y = p->series[i].y[k];
            if (p->logx) x = x > 0 ? log2(x) : NAN;
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (!(x0 <= x1)) x0 = 0, x1 = 1;
    if (!(y0 <= y1)) y0 = 0, y1 = 1;
    if (p->kind == PLOT_BARS) x0 -= p->bar_width / 2, x1 += p->bar_width / 2, y0 = 0;
    if (x1 - x0 < 1e-12) x0 -= p->logx ? 1 : fmax(1, fabs(x0) * 0.1), x1 += p->logx ? 1 : fmax(1, fabs(x1) * 0.1);
    if (y1 - y0 < 1e-12) y0 -= fmax(1, fabs(y0) * 0.1), y1 += fmax(1, fabs(y1) * 0.1);
    double pad = (y1 - y0) * 0.06;
    f->y0 = p->kind == PLOT_BARS ? 0 : y0 - pad;
    f->y1 = y1 + pad;
    double xpad = p->logx ? 0.25 : p->kind == PLOT_BARS ? 0 : (x1 - x0) * 0.03;
    f->x0 = x0 - xpad;
    f->x1 = x1 + xpad;
}

static double nice_step(double range) {
    double raw = range / 6, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return mag * (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10);
}

static void tick_label(char *buf, size_t cap, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    if (fabs(v) >= 1e5 || (v != 0 && fabs(v) < 1e-3)) snprintf(buf, cap, "%.3g", v);
    else snprintf(buf, cap, "%.*f", step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9), v);
}

static void y_ticks(sp_svg *svg, const frame *f) {
    double step = nice_step(f->y1 - f->y0);
    for (double v = ceil(f->y0 / step) * step; v <= f->y1 + step * 1e-9; v += step) {
        char lab[32];
        double y = fy(f, v);
        sp_svg_line(svg, f->left, y, f->right, y, "#e0e0e0", 1, NULL);
        tick_label(lab, sizeof lab, v, step);
        sp_svg_text(svg, f->left - 8, y + 4, lab, 12, SP_SVG_END, 0, "#333333");
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* log2 axis: a tick at every distinct data x (at most 16, else at powers of two). */
static void x_ticks_log(sp_svg *svg, const frame *f, const plot_panel *p) {
    double v[16];
    size_t n = 0, too_many = 0;
    for (size_t i = 0; i < p->n; i++)
        for (size_t k = 0; k < p->series[i].n; k++) {
            double x = p->series[i].x[k];
            int seen = !(x > 0);
            for (size_t j = 0; j < n && !seen; j++) seen = v[j] == x;
            if (!seen && n < 16) v[n++] = x;
            else if (!seen) too_many = 1;
        }
    if (too_many)
        for (n = 0; n < 16 && ldexp(1, (int)ceil(f->x0) + (int)n) <= ldexp(1, (int)floor(f->x1)); n++)
            v[n] = ldexp(1, (int)ceil(f->x0) + (int)n);
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t j = 0; j < n; j++) {
        char lab[32];
        double x = fx(f, v[j]);
        snprintf(lab, sizeof lab, "%.6g", v[j]);
        sp_svg_line(svg, x, f->top, x, f->bottom, "#e0e0e0", 1, NULL);
        sp_svg_text(svg, x, f->bottom + 18, lab, 12, SP_SVG_MIDDLE, 0, "#333333");
    }
}

static void x_ticks_linear(sp_svg *svg, const frame *f, const plot_panel *p) {
    double step = nice_step(f->x1 - f->x0);
    if (p->x_pow10 && step < 1) step = 1;
    for (double v = ceil(f->x0 / step) * step; v <= f->x1 + step * 1e-9; v += step) {
        char lab[32];
        double x = fx(f, v);
        if (p->x_pow10) snprintf(lab, sizeof lab, "1e%.0f", v);
        else tick_label(lab, sizeof lab, v, step);
        sp_svg_line(svg, x, f->top, x, f->bottom, "#e0e0e0", 1, NULL);
        sp_svg_text(svg, x, f->bottom + 18, lab, 12, SP_SVG_MIDDLE, 0, "#333333");
    }
}

static void draw_series(sp_svg *svg, const frame *f, const plot_panel *p) {
    for (size_t i = 0; i < p->n; i++) {
        const plot_series *s = &p->series[i];
        const char *col = palette[i % 10];
        if (p->kind == PLOT_BARS) {
            for (size_t k = 0; k < s->n; k++) {
                double xa = fx(f, s->x[k] - p->bar_width / 2), xb = fx(f, s->x[k] + p->bar_width / 2);
                double y = fy(f, s->y[k]);
                sp_svg_rect(svg, xa + 0.5, y, xb - xa - 1, f->bottom - y, col, "none", 0);
            }
            continue;
        }
        double *px = malloc((s->n ? s->n : 1) * sizeof *px), *py = malloc((s->n ? s->n : 1) * sizeof *py);
        if (!px || !py) {
            free(px), free(py);
            svg->b.oom = 1;
            return;
        }
        for (size_t k = 0; k < s->n; k++) px[k] = fx(f, s->x[k]), py[k] = fy(f, s->y[k]);
        if (s->n > 1) sp_svg_polyline(svg, px, py, s->n, col, 2);
        for (size_t k = 0; k < s->n; k++)
            if (isfinite(px[k]) && isfinite(py[k])) sp_svg_circle(svg, px[k], py[k], 3.5, col);
        free(px), free(py);
    }
}

static void legend(sp_svg *svg, const frame *f, const plot_panel *p) {
    double x = f->right + 18, y = f->top + 6;
    for (size_t i = 0; i < p->n && i < LEGEND_MAX; i++, y += 20) {
        char lab[48];
        const char *l = p->series[i].label;
        size_t n = strlen(l);
        if (n > 38) snprintf(lab, sizeof lab, "%.18s…%s", l, l + n - 18); /* head and tail */
        else snprintf(lab, sizeof lab, "%s", l);
        sp_svg_rect(svg, x, y, 14, 10, palette[i % 10], "none", 0);
        sp_svg_text(svg, x + 20, y + 10, lab, 12, SP_SVG_START, 0, "#222222");
    }
    if (p->n > LEGEND_MAX) {
        char more[48];
        snprintf(more, sizeof more, "… %zu more", p->n - LEGEND_MAX);
        sp_svg_text(svg, x, y + 10, more, 12, SP_SVG_START, 0, "#555555");
    }
}

void plot_panel_draw(sp_svg *svg, double top, const plot_panel *p) {
    frame f = {.left = LEFT, .right = PLOT_WIDTH - RIGHT_LEGEND, .top = top + TOP_PAD,
               .bottom = top + PLOT_PANEL_HEIGHT - BOTTOM_PAD, .logx = p->logx};
    data_range(p, &f);
    sp_svg_text(svg, (f.left + f.right) / 2, top + 26, p->title, 15, SP_SVG_MIDDLE, 0, "#111111");
    y_ticks(svg, &f);
    if (p->logx) x_ticks_log(svg, &f, p);
    else x_ticks_linear(svg, &f, p);
    sp_svg_rect(svg, f.left, f.top, f.right - f.left, f.bottom - f.top, "none", "#444444", 1);
    draw_series(svg, &f, p);
    sp_svg_text(svg, (f.left + f.right) / 2, f.bottom + 42, p->xlabel, 13, SP_SVG_MIDDLE, 0,
                "#111111");
    sp_svg_text(svg, 22, (f.top + f.bottom) / 2, p->ylabel, 13, SP_SVG_MIDDLE, -90, "#111111");
    legend(svg, &f, p);
}
