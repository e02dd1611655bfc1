/* sparsa_svg.h — a small writer of standalone SVG documents (common/svg.c): rectangles, lines,
 * polylines, circles and text, with every attribute and text value escaped for XML (invalid
 * UTF-8 becomes U+FFFD, characters XML 1.0 forbids are dropped). Charts are built on top of it
 * by the commands that draw them. */
#ifndef SPARSA_SVG_H
#define SPARSA_SVG_H

#include <stddef.h>

#include "sparsa_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The document being built; zero-initialise, then sp_svg_begin. Out of memory is sticky (as
 * in sp_strbuf) and reported by sp_svg_finish. */
typedef struct sp_svg {
    sp_strbuf b;
} sp_svg;

/* Text placement: the anchor of sp_svg_text's (x, y). */
typedef enum { SP_SVG_START = 0, SP_SVG_MIDDLE, SP_SVG_END } sp_svg_anchor;

/* The XML declaration, the <svg> element of width × height user units (viewBox the same) and
 * a white background. */
void sp_svg_begin(sp_svg *s, double width, double height);
/* fill and stroke are SVG paints ("#1f77b4", "none"); stroke_width 0 draws no outline. */
void sp_svg_rect(sp_svg *s, double x, double y, double w, double h, const char *fill,
                 const char *stroke, double stroke_width);
/* dash: NULL for a solid line, else a dash array such as "4 3". */
void sp_svg_line(sp_svg *s, double x1, double y1, double x2, double y2, const char *stroke,
                 double width, const char *dash);
/* Points (x[i], y[i]); non-finite points are skipped. */
void sp_svg_polyline(sp_svg *s, const double *x, const double *y, size_t n, const char *stroke,
                     double width);
void sp_svg_circle(sp_svg *s, double cx, double cy, double r, const char *fill);
/* Text of any bytes at (x, y) (the baseline), rotated by rotate degrees about that point. */
void sp_svg_text(sp_svg *s, double x, double y, const char *text, double size,
                 sp_svg_anchor anchor, double rotate, const char *fill);
/* Appends s[0..n) escaped for XML text and attribute values (&, <, >, ", '). */
void sp_svg_escape(sp_strbuf *b, const char *s, size_t n);
/* Closes the document: *out (malloc'd, NUL-terminated) and *len; SP_ERR_RUNTIME when memory
 * ran out at any point. */
int sp_svg_finish(sp_svg *s, char **out, size_t *len, sp_error *err);

#ifdef __cplusplus
}
#endif
#endif
