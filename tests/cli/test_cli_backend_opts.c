/* test_cli_backend_opts.c — --device and --precision on every evaluating command: cpu and fp32
 * run (and give the same logits as leaving them out); tf32 on the cpu is refused in one line;
 * cuda[:N] without the CUDA module, or with it on a machine without a GPU, is one line naming
 * what is missing (exit 2); anything else is a usage error naming the value. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

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
