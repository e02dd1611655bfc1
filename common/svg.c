/* svg.c — the SVG writer (sparsa_svg.h): elements appended to one string builder, numbers
 * with two decimals (enough for screen units), every string escaped for XML. */
#include <math.h>
#include <string.h>

#include "sparsa_svg.h"

void sp_svg_escape(sp_strbuf *b, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        size_t k = sp_utf8_seq_len(s + i, n - i);
        if (!k) { /* not UTF-8: U+FFFD */
            sp_sb_puts(b, "\xef\xbf\xbd");
            i++;
            continue;
        }
        unsigned char c = s[i];
        if (k == 1 && c < 0x20 && c != '\t' && c != '\n' && c != '\r') { /* XML 1.0 forbids */
            i++;
            continue;
        }
        const char *ent = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;"
                        : c == '"' ? "&quot;" : c == '\'' ? "&apos;" : NULL;
        if (ent) sp_sb_puts(b, ent);
        else sp_sb_put(b, str + i, k);
        i += k;
    }
}

static void attr(sp_strbuf *b, const char *name, const char *value) {
    sp_sb_printf(b, " %s=\"", name);
    sp_svg_escape(b, value, strlen(value));
    sp_sb_puts(b, "\"");
}

/* Non-finite coordinates would make the document invalid; they are drawn at 0. */
static double fin(double v) { return isfinite(v) ? v : 0; }

void sp_svg_begin(sp_svg *s, double width, double height) {
    sp_sb_puts(&s->b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    sp_sb_printf(&s->b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                 "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n",
                 fin(width), fin(height), fin(width), fin(height));
    sp_svg_rect(s, 0, 0, width, height, "#ffffff", "none", 0);
}

void sp_svg_rect(sp_svg *s, double x, double y, double w, double h, const char *fill,
                 const char *stroke, double stroke_width) {
    sp_sb_printf(&s->b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"", fin(x),
                 fin(y), fin(w) > 0 ? fin(w) : 0, fin(h) > 0 ? fin(h) : 0);
    attr(&s->b, "fill", fill);
    if (stroke_width > 0) {
        attr(&s->b, "stroke", stroke);
        sp_sb_printf(&s->b, " stroke-width=\"%.2f\"", stroke_width);
    }
    sp_sb_puts(&s->b, "/>\n");
}

void sp_svg_line(sp_svg *s, double x1, double y1, double x2, double y2, const char *stroke,
                 double width, const char *dash) {
    sp_sb_printf(&s->b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", fin(x1), fin(y1),
                 fin(x2), fin(y2));
    attr(&s->b, "stroke", stroke);
    sp_sb_printf(&s->b, " stroke-width=\"%.2f\"", width);
    if (dash) attr(&s->b, "stroke-dasharray", dash);
    sp_sb_puts(&s->b, "/>\n");
}

void sp_svg_polyline(sp_svg *s, const double *x, const double *y, size_t n, const char *stroke,
                     double width) {
    sp_sb_puts(&s->b, "<polyline points=\"");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        sp_sb_printf(&s->b, "%s%.2f,%.2f", first ? "" : " ", x[i], y[i]);
        first = 0;
    }
    sp_sb_puts(&s->b, "\" fill=\"none\"");
    attr(&s->b, "stroke", stroke);
    sp_sb_printf(&s->b, " stroke-width=\"%.2f\" stroke-linejoin=\"round\"/>\n", width);
}

void sp_svg_circle(sp_svg *s, double cx, double cy, double r, const char *fill) {
    sp_sb_printf(&s->b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\"", fin(cx), fin(cy), fin(r));
    attr(&s->b, "fill", fill);
    sp_sb_puts(&s->b, "/>\n");
}

void sp_svg_text(sp_svg *s, double x, double y, const char *text, double size,
                 sp_svg_anchor anchor, double rotate, const char *fill) {
    static const char *const anchors[] = {"start", "middle", "end"};
    sp_sb_printf(&s->b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" text-anchor=\"%s\"",
                 fin(x), fin(y), fin(size), anchors[anchor <= SP_SVG_END ? anchor : 0]);
    if (rotate != 0)
        sp_sb_printf(&s->b, " transform=\"rotate(%.1f %.2f %.2f)\"", fin(rotate), fin(x), fin(y));
    attr(&s->b, "fill", fill);
    sp_sb_puts(&s->b, ">");
    sp_svg_escape(&s->b, text, strlen(text));
    sp_sb_puts(&s->b, "</text>\n");
}

int sp_svg_finish(sp_svg *s, char **out, size_t *len, sp_error *err) {
    sp_sb_puts(&s->b, "</svg>\n");
    *len = s->b.len;
    if (s->b.oom) {
        sp_sb_free(&s->b);
        *out = NULL;
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory while drawing");
    }
    *out = sp_sb_take(&s->b);
    return *out ? SP_OK : sp_fail(err, SP_ERR_RUNTIME, "out of memory while drawing");
}
