/* test_dist_mpi.c — `mpirun -n N sparsa perplexity ...` prints the report of one run, byte for
 * byte (timing keys aside) for N = 1, 2, 3, under every protocol, with several files and
 * several context lengths; a failing or dying rank ends the job with exit 1, one line, and no
 * output. Skipped, with the reason, where mpirun is not installed (`make deps` installs it). */
#include <criterion/criterion.h>
#include <dirent.h>

#include "tu_dist.h"
#include "tu_poison.h"

/* The same perplexity arguments run plainly and under mpirun -n 1, 2, 3. */
static void expect_ranks_agree(const char *args) {
    tu_need_mpirun();
    char line[2048], *ref = NULL, *err = NULL;
    snprintf(line, sizeof line, "%s perplexity %s", tu_sparsa_bin(), args);
    cr_assert_eq(tu_dist_run(line, &ref, &err), 0, "single run failed: %s", err);
    free(err);
    for (int n = 1; n <= 3; n++) {
        char *out = NULL, what[64];
        snprintf(line, sizeof line, MPIRUN "%d %s perplexity %s", n, tu_sparsa_bin(), args);
        int rc = tu_dist_run(line, &out, &err);
        cr_assert_eq(rc, 0, "mpirun -n %d exited %d: %s", n, rc, err);
        snprintf(what, sizeof what, "mpirun -n %d", n);
        tu_dist_expect_same(out, ref, what);
        free(out);
        free(err);
    }
    free(ref);
}

#define FILES TU_PPL_CORPORA

Test(dist_mpi, all_protocol_two_files_two_contexts) {
    expect_ranks_agree(TU_PPL_MODEL " " FILES "--ctx 32,64 --max-tokens 900 --json");
}

Test(dist_mpi, all_protocol_bos_prepend) {
    expect_ranks_agree(TU_PPL_MODEL " " FILES "--ctx 48 --bos prepend --max-tokens 700 --json");
}

Test(dist_mpi, second_half) {
    expect_ranks_agree(TU_PPL_MODEL " " FILES "--ctx 64,33 --score second-half --max-tokens 800 "
                       "--json");
}

Test(dist_mpi, stride_sparse_attention) {
    expect_ranks_agree(TU_PPL_SPARSE " " FILES "--ctx 64 --stride 24 --max-tokens 600 --json");
}

Test(dist_mpi, table) {
    expect_ranks_agree(TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --ctx 32 --max-tokens 500");
}

/* Many files, few windows each: whole files go to ranks. */
Test(dist_mpi, many_small_units) {
    expect_ranks_agree(TU_PPL_MODEL " " FILES "--ctx 16,20,24,28,32,36 --max-tokens 120 --json");
}

/* An error on the ranks (a corpus too short): rank 0 names it once, exit 2, no report. */
Test(dist_mpi, input_error_reported_once) {
    tu_need_mpirun();
    char line[1024], *out = NULL, *err = NULL;
    snprintf(line, sizeof line, MPIRUN "2 %s perplexity " TU_PPL_MODEL " " TU_PPL_DIR
             "mixed.txt --ctx 64 --max-tokens 10 --json", tu_sparsa_bin());
    int rc = tu_dist_run(line, &out, &err);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert_str_eq(out, "");
    cr_assert(strstr(err, "sparsa perplexity: ") && strstr(err, "too few"), "%s", err);
    cr_assert_eq(tu_line_count(err), 1, "one line: %s", err);
    free(out);
    free(err);
}

/* --stats and --shard are refused under several ranks, with one line. */
Test(dist_mpi, refusals) {
    tu_need_mpirun();
    char line[1024], *out = NULL, *err = NULL;
    snprintf(line, sizeof line, MPIRUN "2 %s perplexity " TU_PPL_MODEL " " TU_PPL_DIR
             "mixed.txt --ctx 32 --stats", tu_sparsa_bin());
    cr_assert_eq(tu_dist_run(line, &out, &err), 2, "%s", err);
    cr_assert(strstr(err, "--stats"), "%s", err);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    free(out);
    free(err);
}

/* Rank 1 alone fails while running (its model computes NaN): rank 0 names rank 1 and the
 * window in one line, every rank exits 1, and no report is printed. */
Test(dist_mpi, failing_rank_named) {
    tu_need_mpirun();
    char dir[] = "/tmp/sparsa_dist_failXXXXXX", bad[128], line[2048], *out = NULL, *err = NULL;
    cr_assert_not_null(mkdtemp(dir));
    snprintf(bad, sizeof bad, "%s/nan.sparsa", dir);
    cr_assert_eq(tu_poison_model(TU_PPL_MODEL, bad, "model.layers.0.self_attn.q_proj.weight", 0,
                                 48 * 48), 0);
    snprintf(line, sizeof line, MPIRUN "2 sh -c 'm=" TU_PPL_MODEL "; [ \"$OMPI_COMM_WORLD_RANK\" "
             "= 1 ] && m=%s; exec %s perplexity $m " TU_PPL_DIR "mixed.txt --ctx 32 "
             "--max-tokens 400 --json'", bad, tu_sparsa_bin());
    int rc = tu_dist_run(line, &out, &err);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
    cr_assert_str_eq(out, "", "a report was printed");
    cr_assert_eq(tu_line_count(err), 1, "one line: %s", err);
    cr_assert(strstr(err, "sparsa perplexity: rank 1: non-finite NLL in"), "%s", err);
    free(out);
    free(err);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    cr_assert_eq(system(rm), 0);
}

/* The process mpirun started for a rank killed mid-run (not the command it runs, which
 * test_dist_killed.c kills): mpirun ends the job (the other ranks get SIGTERM, the rank's
 * command gets SIGTERM from the kernel as its parent dies), the exit status is not 0, no
 * report is printed, and no temporary is left in the working folder. */
Test(dist_mpi, killed_rank_ends_the_job) {
    tu_need_mpirun();
    char dir[] = "/tmp/sparsa_dist_killXXXXXX", line[2048], *out = NULL, *err = NULL;
    cr_assert_not_null(mkdtemp(dir));
    snprintf(line, sizeof line, "cd %s && " MPIRUN "2 sh -c '[ \"$OMPI_COMM_WORLD_RANK\" = 1 ] && "
             "(sleep 0.4; kill -9 $$) & exec %s%s perplexity \"$OLDPWD\"/" TU_PPL_SPARSE
             " \"$OLDPWD\"/" TU_PPL_DIR "psalms.txt \"$OLDPWD\"/" TU_PPL_DIR "mixed.txt "
             "--ctx 16,32,48,64,96,128 --threads 1 --json'", dir,
             tu_sparsa_bin()[0] == '/' ? "" : "\"$OLDPWD\"/", tu_sparsa_bin());
    int rc = tu_dist_run(line, &out, &err);
    cr_assert_neq(rc, 0, "the job succeeded although a rank was killed: %s", err);
    cr_assert_str_eq(out, "", "a report was printed");
    tu_dist_expect_left_nothing(dir, out, err);
}

/* Run plainly, the binary needs no MPI library: none is linked. */
Test(dist_mpi, plain_binary_links_no_mpi) {
    char line[512], *out = NULL, *err = NULL;
    snprintf(line, sizeof line, "ldd %s", tu_sparsa_bin());
    if (tu_dist_run(line, &out, &err) != 0) cr_skip_test("ldd cannot read %s", tu_sparsa_bin());
    cr_assert(!strstr(out, "libmpi"), "linked against MPI:\n%s", out);
    free(out);
    free(err);
}

/* Under a launcher whose MPI library cannot be loaded: exit 2, one line naming it. */
Test(dist_mpi, missing_library_named) {
    char line[512], *out = NULL, *err = NULL;
    snprintf(line, sizeof line, "OMPI_COMM_WORLD_SIZE=2 SPARSA_MPI_LIB=/nonexistent/libmpi.so.40 "
             "%s perplexity " TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --ctx 32", tu_sparsa_bin());
    int rc = tu_dist_run(line, &out, &err);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, "/nonexistent/libmpi.so.40") && strstr(err, "mpirun"), "%s", err);
    cr_assert_str_eq(out, "");
    free(out);
    free(err);
}

/* Several models on the same windows, NLL by position: the same under every rank count. */
Test(dist_mpi, models_and_buckets) {
    expect_ranks_agree(TU_PPL_MODEL " --model " TU_PPL_SPARSE " " FILES "--ctx 32,48 "
                       "--max-tokens 500 --by-position 8 --json");
}

Test(dist_mpi, rolling) {
    expect_ranks_agree(TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --ctx 32,20 --score rolling --docs "
                       "lines --json");
}
