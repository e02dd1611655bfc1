/* test_cli_backend_opts.c — --device and --precision on every evaluating command: cpu and fp32
 * run (and give the same logits as leaving them out); tf32 on the cpu is refused in one line;
 * cuda[:N] without the CUDA module, or with it on a machine without a GPU, is one line naming
 * what is missing (exit 2); anything else is a usage error naming the value. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include "json_reader.h"
#include "tu.h"
#include "tu_cli.h"

#define M "examples/models/softmax_rope.sparsa"

static const char *const commands[] = {
    "perplexity " M " examples/data/sotu_2001_2021.txt --ctx 64 --max-tokens 256",
    "logits " M " --tokens 1,2,3",
    "generate " M " --tokens 1,2,3 -n 2",
    "eval-task " M " --src examples/data/sotu_2001_2021.txt --trg examples/data/sotu_2001_2021.txt",
    "kld " M " " M " examples/data/sotu_2001_2021.txt --ctx 64 --max-tokens 256",
    "mc " M " tests/fixtures/mc/generic.jsonl",
};

Test(backend_opts, every_evaluating_command_refuses_what_this_machine_cannot_do) {
    char line[512];
    setenv("SPARSA_CUDA_MODULE", "/nonexistent/libsparsa-cuda.so", 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        snprintf(line, sizeof line, "%s --device cuda", commands[i]);
        tu_expect_bad(line, "--device cuda: no CUDA module: /nonexistent/libsparsa-cuda.so was "
                            "not found");
        snprintf(line, sizeof line, "%s --device cuda:1 --precision bf16", commands[i]);
        tu_expect_bad(line, "--device cuda:1: no CUDA module");
        snprintf(line, sizeof line, "%s --device gpu", commands[i]);
        tu_expect_bad(line, "--device needs cpu or cuda[:N], not 'gpu'");
        /* --precision bf16 runs on a CPU with AVX512_BF16 and is refused on one without:
         * tests/interpreter/test_interp_bf16.c */
        snprintf(line, sizeof line, "%s --precision tf32", commands[i]);
        tu_expect_bad(line, "--precision tf32: the cpu backend computes in fp32 only");
        snprintf(line, sizeof line, "%s --precision fp64", commands[i]);
        tu_expect_bad(line, "--precision needs fp32, tf32 or bf16, not 'fp64'");
        snprintf(line, sizeof line, "%s --device cpu --device cpu", commands[i]);
        tu_expect_bad(line, "--device given twice");
    }
}

Test(backend_opts, cpu_and_fp32_run_as_the_default_does) {
    char *plain = NULL, *named = NULL, *err = NULL;
    cr_assert_eq(tu_run_sparsa("logits " M " --tokens 5,17,3,900", &plain, &err), 0, "%s", err);
    free(err);
    err = NULL;
    cr_assert_eq(tu_run_sparsa("logits " M " --tokens 5,17,3,900 --device cpu --precision fp32",
                               &named, &err), 0, "%s", err);
    cr_assert(plain && *plain, "no summary printed");
    cr_assert_str_eq(named, plain);
    free(plain);
    free(named);
    free(err);
}

/* With the module built beside the binary (make cuda) on a machine without a GPU, the module
 * itself says what is missing. */
Test(backend_opts, the_cuda_module_without_a_gpu_names_what_is_missing) {
    const char *bin = getenv("SPARSA_BIN");
    char module[1024];
    snprintf(module, sizeof module, "%s", bin ? bin : "build/sparsa");
    char *slash = strrchr(module, '/');
    snprintf(slash ? slash + 1 : module, sizeof module - (size_t)(slash ? slash + 1 - module : 0),
             "libsparsa-cuda.so");
    if (access(module, R_OK) != 0) cr_skip("no CUDA module beside the binary (make cuda)");
    if (access("/dev/nvidia0", F_OK) == 0) cr_skip("this machine has a GPU (tests/cuda covers it)");
    unsetenv("SPARSA_CUDA_MODULE");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char line[512];
        snprintf(line, sizeof line, "%s --device cuda:0", commands[i]);
        tu_expect_bad(line, "CUDA");
    }
}

/* The JSON's settings say which unit ran the bf16 products (AMX or AVX512_BF16: they differ in
 * the last bits), and say nothing of it in fp32. */
Test(backend_opts, bf16_reports_record_the_engine) {
    const char *base = "perplexity " M " examples/data/sotu_2001_2021.txt --ctx 64 --max-tokens 256 --json";
    char line[512], *out = NULL, *err = NULL;
    snprintf(line, sizeof line, "%s --precision bf16", base);
    int rc = tu_run_sparsa(line, &out, &err);
    if (rc == 2 && err && strstr(err, "AVX512_BF16")) {
        free(out);
        free(err);
        cr_skip("this CPU has no AVX512_BF16: --precision bf16 is refused here");
    }
    cr_assert_eq(rc, 0, "%s", err);
    sp_json *j = NULL;
    sp_error e = {0};
    cr_assert_eq(sp_json_parse(out, strlen(out), &j, &e), 0, "not JSON (%s): %s", e.msg, out);
    const sp_json *set = sp_json_get(j, "settings"), *eng = set ? sp_json_get(set, "bf16_engine") : NULL;
    cr_assert(eng && eng->type == SP_JSON_STRING, "no settings.bf16_engine: %s", out);
    cr_assert(!strcmp(eng->str, "amx") || !strcmp(eng->str, "avx512_bf16"), "engine %s", eng->str);
    cr_assert_str_eq(sp_json_get(set, "precision")->str, "bf16");
    sp_json_free(j);
    free(out);
    free(err);
    out = err = NULL;
    cr_assert_eq(tu_run_sparsa(base, &out, &err), 0, "%s", err);
    cr_assert(!strstr(out, "bf16_engine"), "fp32 names a bf16 engine: %s", out);
    free(out);
    free(err);
}
