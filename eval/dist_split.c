/* dist_split.c — which windows one part of a distributed run computes (sp_dist_split): the
 * run's windows in run order, cut into contiguous ranges of about equal cost. With many units
 * (a unit is one file at one context length) the cuts fall between units, so a part runs
 * whole files; with few, they fall between windows of a file. Only integer arithmetic, so
 * every process computes the same ranges. */
#include "sparsa_dist.h"

/* total · p / parts without overflow (total < 2^64, p <= parts). */
static uint64_t share(uint64_t total, uint64_t p, uint64_t parts) {
    return total / parts * p + (uint64_t)((unsigned __int128)(total % parts) * p / parts);
}

/* The first window whose cost before it reaches target, cut inside units. */
static uint64_t cut_in_windows(const uint64_t *windows, const uint64_t *cost, size_t n_units,
                               uint64_t target) {
    uint64_t g = 0, before = 0;
    for (size_t u = 0; u < n_units; u++) {
        uint64_t unit = windows[u] * cost[u];
        if (before + unit > target && cost[u]) {
            uint64_t k = (target - before + cost[u] - 1) / cost[u]; /* ceil */
            return g + (k < windows[u] ? k : windows[u]);
        }
        before += unit;
        g += windows[u];
    }
    return g;
}

/* The unit boundary whose cost before it is nearest to target (the lower one on a tie). */
static uint64_t cut_at_units(const uint64_t *windows, const uint64_t *cost, size_t n_units,
                             uint64_t target) {
    uint64_t g = 0, before = 0;
    for (size_t u = 0; u < n_units; u++) {
        uint64_t unit = windows[u] * cost[u];
        if (before + unit > target)
            return target - before <= before + unit - target ? g : g + windows[u];
        before += unit;
        g += windows[u];
    }
    return g;
}

/* Whole units when there are at least two per part and none costs more than half a part. */
static int whole_units(const uint64_t *windows, const uint64_t *cost, size_t n_units,
                       uint64_t parts, uint64_t total) {
    if (n_units < 2 * parts) return 0;
    for (size_t u = 0; u < n_units; u++)
        if (windows[u] * cost[u] > total / (2 * parts)) return 0;
    return 1;
}

sp_dist_range sp_dist_split(const uint64_t *windows, const uint64_t *cost, size_t n_units,
                            uint64_t parts, uint64_t part) {
    uint64_t total = 0, all = 0;
    for (size_t u = 0; u < n_units; u++) {
        total += windows[u] * cost[u];
        all += windows[u];
    }
    sp_dist_range r = {0, all};
    if (parts <= 1) return r;
    int units = whole_units(windows, cost, n_units, parts, total);
    uint64_t cut[2];
    for (int i = 0; i < 2; i++) {
        uint64_t p = part + (uint64_t)i;
        if (p == 0) cut[i] = 0;
        else if (p >= parts) cut[i] = all;
        else if (units) cut[i] = cut_at_units(windows, cost, n_units, share(total, p, parts));
        else cut[i] = cut_in_windows(windows, cost, n_units, share(total, p, parts));
    }
    r.first = cut[0];
    r.end = cut[1] > cut[0] ? cut[1] : cut[0];
    return r;
}
