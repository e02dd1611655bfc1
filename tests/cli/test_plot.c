/* test_plot.c — `sparsa plot`: the SVG is well-formed XML (checked here by a small XML 1.0
 * well-formedness reader, and by python3's xml.dom.minidom when python3 is installed), holds the
 * panels, legends and escaped labels of its inputs, a single point still gives a figure, and
 * bad inputs or outputs are one line with exit 2, leaving nothing behind. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <sys/stat.h>

#include "tu_eval.h"

#define PPL_JSON                                                                                   \
    "{\"model\": \"m<&>.sparsa\", \"results\": [\n"                                                \
    " {\"file\": \"a.txt\", \"ctx\": 64, \"ppl\": 30.5},\n"                                        \
    " {\"file\": \"a.txt\", \"ctx\": 256, \"ppl\": 21.0, \"by_position\": [\n"                     \
    "   {\"start\": 0, \"end\": 128, \"tokens\": 127, \"mean_nll\": 3.4, \"ppl\": 30},\n"          \
    "   {\"start\": 128, \"end\": 256, \"tokens\": 128, \"mean_nll\": 2.9, \"ppl\": 18}]},\n"      \
    " {\"file\": \"b.txt\", \"ctx\": 64, \"ppl\": null, \"model\": \"other\"}]}\n"

#define KLD_JSON                                                                                   \
    "{\"command\": \"kld\", \"base\": {\"file\": \"base.sparsa\"}, \"other\": {\"file\": "         \
    "\"o.sparsa\"}, \"mean_kld\": 0.02, \"kld_histogram\": {\"scale\": \"log10\", \"lo\": -4, "    \
    "\"hi\": 0, \"below\": 3, \"counts\": [1, 5, 9, 2]}}\n"

/* ---- a small XML well-formedness reader (elements, attributes, entities, one root) ---- */

static const char *name_end(const char *p) {
    while (*p && (isalnum((unsigned char)*p) || strchr(":_-.", *p) || (unsigned char)*p >= 0x80)) p++;
    return p;
}

static int entity_ok(const char **pp) {
    const char *p = *pp, *semi = strchr(p, ';');
    if (!semi || semi - p > 10) return 0;
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    int ok = p[1] == '#';
    for (int i = 0; i < 5 && !ok; i++) ok = !strncmp(p, named[i], strlen(named[i]));
    *pp = semi + 1;
    return ok;
}

static int text_ok(const char **pp, char stop) {
    const char *p = *pp;
    while (*p && *p != stop) {
        if (*p == '<' && stop != '<') return 0;
        if ((unsigned char)*p < 0x20 && !strchr("\t\n\r", *p)) return 0;
        if (*p == '&') {
            if (!entity_ok(&p)) return 0;
        } else p++;
    }
    *pp = p;
    return 1;
}

/* 1 when doc is a well-formed XML document with one root element. */
static int xml_well_formed(const char *p) {
    char stack[64][32];
    int depth = 0, roots = 0;
    if (!strncmp(p, "<?xml", 5)) p = strstr(p, "?>") + 2;
    for (;;) {
        if (!text_ok(&p, '<')) return 0;
        if (!*p) break;
        if (depth == 0 && p[1] != '/') roots++;
        if (p[1] == '/') {
            const char *n = p + 2, *e = name_end(n);
            if (!depth || (size_t)(e - n) != strlen(stack[depth - 1]) || strncmp(n, stack[depth - 1], e - n) || *e != '>')
                return 0;
            depth--;
            p = e + 1;
            continue;
        }
        const char *n = p + 1, *e = name_end(n);
        if (e == n || e - n >= 32 || depth == 64) return 0;
        memcpy(stack[depth], n, e - n);
        stack[depth][e - n] = 0;
        p = e;
        for (;;) {
            while (isspace((unsigned char)*p)) p++;
            if (*p == '/' && p[1] == '>') { p += 2; break; }
            if (*p == '>') { p++; depth++; break; }
            const char *an = p, *ae = name_end(an);
            if (ae == an || ae[0] != '=' || ae[1] != '"') return 0;
            p = ae + 2;
            if (!text_ok(&p, '"') || *p != '"') return 0;
            p++;
        }
    }
    return depth == 0 && roots == 1;
}

/* ---- helpers ---- */

Test(plot, the_xml_checker_can_fail) {
    cr_assert(xml_well_formed("<?xml version=\"1.0\"?>\n<svg a=\"1\"><t>x &amp; y</t><r/></svg>\n"));
    const char *bad[] = {"<svg><a></svg>", "<svg a=\"&x;\"/>", "<svg>a < b</svg>", "<svg/><svg/>",
                         "<svg a=1/>", "<svg>\x01</svg>", "<svg>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!xml_well_formed(bad[i]), "accepted %s", bad[i]);
}

static char *write_temp(const char *text) { return tu_temp_file(text, strlen(text), ".json"); }

static char *plot(const char *inputs, int *rc, char **err) {
    char *out = tu_temp_file("", 0, ".svg"), args[1024];
    snprintf(args, sizeof args, "plot %s -o %s", inputs, out);
    *rc = tu_run_sparsa(args, NULL, err);
    char *svg = tu_read_text(out);
    remove(out);
    free(out);
    return svg;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

Test(plot, perplexity_and_kld_panels) {
    char *ppl = write_temp(PPL_JSON), *kld = write_temp(KLD_JSON), in[512], *err = NULL;
    snprintf(in, sizeof in, "%s %s", ppl, kld);
    int rc;
    char *svg = plot(in, &rc, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(xml_well_formed(svg), "not well-formed XML:\n%s", svg);
    cr_assert(strstr(svg, "Perplexity against context length"));
    cr_assert(strstr(svg, "Mean NLL against position in the window"));
    cr_assert(strstr(svg, "KL divergence per position: base.sparsa → o.sparsa"));
    cr_assert(strstr(svg, "m&lt;&amp;&gt; · a<"), "escaped legend label");
    cr_assert(strstr(svg, "other · b<"), "a result's own model names its series");
    cr_assert(strstr(svg, ">64<") && strstr(svg, ">256<"), "ticks at the context lengths");
    cr_assert(strstr(svg, "3 positions below 1e-4"));
    cr_assert_eq(count(svg, "<polyline"), 2, "a.txt's PPL line and its NLL line");
    cr_assert(strstr(svg, "height=\"1200\""), "three panels");
    remove(ppl), remove(kld);
    free(ppl), free(kld), free(svg), free(err);
}

Test(plot, a_single_point_is_a_valid_figure) {
    char *one = write_temp("{\"results\": [{\"file\": \"x.txt\", \"ctx\": 512, \"ppl\": 9.5}]}");
    int rc;
    char *err = NULL, *svg = plot(one, &rc, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(xml_well_formed(svg), "%s", svg);
    cr_assert_eq(count(svg, "<circle"), 1);
    cr_assert(strstr(svg, ">512<"));
    cr_assert(!strstr(svg, "nan") && !strstr(svg, "inf"), "finite coordinates only");
    remove(one);
    free(one), free(svg), free(err);
}

Test(plot, minidom_parses_the_figure) {
    if (system("python3 -c 'import xml.dom.minidom' >/dev/null 2>&1") != 0)
        cr_skip_test("python3 with xml.dom.minidom is not installed");
    char *ppl = write_temp(PPL_JSON), *kld = write_temp(KLD_JSON);
    char *out = tu_temp_file("", 0, ".svg"), args[1024], *err = NULL;
    snprintf(args, sizeof args, "plot %s %s -o %s", ppl, kld, out);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "python3 -c 'import sys, xml.dom.minidom as m; "
             "d = m.parse(sys.argv[1]); assert d.documentElement.tagName == \"svg\"' %s", out);
    cr_assert_eq(system(cmd), 0, "minidom refused %s", out);
    remove(ppl), remove(kld), remove(out);
    free(ppl), free(kld), free(out), free(err);
}

static void expect_bad(const char *args, const char *needle) {
    char *err = NULL;
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 2, "%s: %s", args, err);
    cr_assert(strstr(err, needle), "%s: %s", args, err);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    free(err);
}

Test(plot, bad_inputs_and_outputs) {
    char *notjson = write_temp("{\"results\": [1,]}"), *other = write_temp("{\"x\": 1}");
    char args[512];
    snprintf(args, sizeof args, "plot %s -o /tmp/sparsa_plot_never.svg", notjson);
    expect_bad(args, "not JSON");
    snprintf(args, sizeof args, "plot %s -o /tmp/sparsa_plot_never.svg", other);
    expect_bad(args, "neither perplexity results");
    snprintf(args, sizeof args, "plot %s", other);
    expect_bad(args, "-o FIG.svg is required");
    snprintf(args, sizeof args, "plot %s -o %s", other, other);
    expect_bad(args, other);
    expect_bad("plot -o /tmp/sparsa_plot_never.svg", "missing a RESULT.json");
    struct stat st;
    cr_assert_neq(stat("/tmp/sparsa_plot_never.svg", &st), 0, "no output on failure");
    remove(notjson), remove(other);
    free(notjson), free(other);
}

Test(plot, output_is_atomic_and_leaves_no_temporary) {
    char dir[] = "/tmp/sparsa_plot_XXXXXX";
    cr_assert(mkdtemp(dir));
    char *ppl = write_temp(PPL_JSON), args[512], *err = NULL, path[64];
    snprintf(path, sizeof path, "%s/fig.svg", dir);
    snprintf(args, sizeof args, "plot %s -o %s", ppl, path);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' || strlen(e->d_name) > 2) entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    cr_assert_eq(entries, 1, "only fig.svg in the folder");
    remove(path), rmdir(dir), remove(ppl);
    free(ppl), free(err);
}
