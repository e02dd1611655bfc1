/* test_dist_split.c — sp_dist_split: the parts of any split tile the run's windows in order
 * (every window in exactly one part), cost about the same, fall between units (whole files)
 * when there are many small units and inside units when there are few, and are the same
 * every time they are computed. */
#include <criterion/criterion.h>

#include "sparsa_dist.h"

static void expect_tiling(const uint64_t *w, const uint64_t *cost, size_t n, uint64_t parts) {
    uint64_t total = 0;
    for (size_t u = 0; u < n; u++) total += w[u];
    uint64_t next = 0;
    for (uint64_t p = 0; p < parts; p++) {
        sp_dist_range r = sp_dist_split(w, cost, n, parts, p);
        sp_dist_range again = sp_dist_split(w, cost, n, parts, p);
        cr_assert_eq(r.first, again.first);
        cr_assert_eq(r.end, again.end);
        cr_assert_eq(r.first, next, "part %llu of %llu starts at %llu, not %llu",
                     (unsigned long long)p, (unsigned long long)parts,
                     (unsigned long long)r.first, (unsigned long long)next);
        cr_assert_geq(r.end, r.first);
        next = r.end;
    }
    cr_assert_eq(next, total, "the parts end at %llu of %llu windows", (unsigned long long)next,
                 (unsigned long long)total);
}

Test(dist_split, parts_tile_the_windows) {
    uint64_t w[] = {21, 21, 10, 10, 0, 7, 1, 300};
    uint64_t cost[] = {32, 32, 64, 64, 64, 128, 128, 16};
    for (uint64_t parts = 1; parts <= 40; parts++)
        for (size_t n = 0; n <= 8; n++) expect_tiling(w, cost, n, parts);
}

Test(dist_split, one_part_is_everything) {
    uint64_t w[] = {5, 6}, cost[] = {10, 20};
    sp_dist_range r = sp_dist_split(w, cost, 2, 1, 0);
    cr_assert_eq(r.first, 0);
    cr_assert_eq(r.end, 11);
}

/* Few units: the cut falls inside a unit, and the two halves cost the same. */
Test(dist_split, few_units_split_by_window) {
    uint64_t w[] = {100}, cost[] = {64};
    sp_dist_range a = sp_dist_split(w, cost, 1, 2, 0), b = sp_dist_split(w, cost, 1, 2, 1);
    cr_assert_eq(a.end, 50);
    cr_assert_eq(b.first, 50);
    cr_assert_eq(b.end, 100);
}

/* Many small units: every cut is a unit boundary, and no part is far from its share. */
Test(dist_split, many_units_split_by_file) {
    uint64_t w[24], cost[24], starts[25] = {0}, total = 0;
    for (size_t u = 0; u < 24; u++) {
        w[u] = 3 + u % 5;
        cost[u] = 32;
        starts[u + 1] = starts[u] + w[u];
        total += w[u] * cost[u];
    }
    for (uint64_t parts = 2; parts <= 6; parts++) {
        for (uint64_t p = 0; p < parts; p++) {
            sp_dist_range r = sp_dist_split(w, cost, 24, parts, p);
            int at_boundary = 0;
            for (size_t u = 0; u <= 24; u++) at_boundary |= starts[u] == r.first;
            cr_assert(at_boundary, "part %llu/%llu starts inside a unit (window %llu)",
                      (unsigned long long)p, (unsigned long long)parts,
                      (unsigned long long)r.first);
            double share = (double)(r.end - r.first) * 32.0 / (double)total;
            cr_assert(share > 0.5 / (double)parts && share < 1.5 / (double)parts,
                      "part %llu/%llu has %.3f of the cost", (unsigned long long)p,
                      (unsigned long long)parts, share);
        }
    }
}

/* More parts than windows: some parts are empty, none overlaps. */
Test(dist_split, more_parts_than_windows) {
    uint64_t w[] = {3}, cost[] = {16};
    expect_tiling(w, cost, 1, 7);
    size_t nonempty = 0;
    for (uint64_t p = 0; p < 7; p++) {
        sp_dist_range r = sp_dist_split(w, cost, 1, 7, p);
        nonempty += r.end > r.first;
    }
    cr_assert_eq(nonempty, 3);
}
