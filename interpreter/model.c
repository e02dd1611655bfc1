/* model.c — sp_model: open the file (with its verification options), parse and validate the
 * graph, build the plan; the plan described for `inspect --graph`. */
#include <stdlib.h>
#include <string.h>

#include "gemm_bf16.h"
#include "interp_internal.h"

/* The device and precision used when the caller's options name none (set once by the command
 * line front end from --device and --precision; NULL: the CPU). */
static const char *default_device;
static int default_precision = SP_PREC_FP32;

void sp_set_default_device(const char *device, int precision) {
    default_device = device;
    default_precision = precision;
}

static const char *const precision_names[] = {"fp32", "tf32", "bf16"};

const char *sp_precision_name(int precision) {
    return precision >= SP_PREC_FP32 && precision <= SP_PREC_BF16 ? precision_names[precision]
                                                                  : "invalid";
}

const char *sp_cpu_bf16_engine(void) { return sp_gemm_bf16_engine(); }

void sp_default_device(const char **kind, const char **precision) {
    int cuda = default_device && !strncmp(default_device, "cuda", 4);
    *kind = cuda ? "cuda" : "cpu";
    *precision = sp_precision_name(default_precision);
}

void sp_model_free(sp_model *m) {
    if (!m) return;
    sp_backend_detach(m);
    for (size_t i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind && m->ops[i].kind->free_priv) m->ops[i].kind->free_priv(m->ops[i].priv);
    free(m->ops);
    free(m->layer_op);
    sp_plan_free(&m->plan);
    sp_graph_free(m->graph);
    sp_file_close(m->file);
    free(m);
}

int sp_model_open(const char *path, sp_model **out, sp_error *err) {
    return sp_model_open_opts(path, NULL, out, err);
}

/* The CPU's opt-in bf16 compute: every op that has matrix products (linear, mlp) switches
 * them to bf16 (kernels/gemm_bf16.h), on a CPU with AVX512_BF16 only; the rest stays fp32. */
static int cpu_use_bf16(sp_model *m, sp_error *err) {
    if (!sp_gemm_bf16_available())
        return sp_fail(err, SP_ERR_INPUT, "--precision bf16: this CPU has no AVX512_BF16, which the "
                       "cpu backend's bf16 products need (use fp32, or --device cuda)");
    for (size_t i = 0; i < m->n_ops; i++) {
        sp_op *op = &m->ops[i];
        int rc = op->kind->use_bf16 ? op->kind->use_bf16(op, err) : SP_OK;
        if (rc) return rc;
    }
    return SP_OK;
}

/* The CPU runs what this folder compiled, in fp32 or (opt-in) bf16 products; any other device
 * gets the plan through the backend seam. */
static int choose_backend(sp_model *m, const sp_model_options *opts, sp_error *err) {
    const char *device = opts && opts->device ? opts->device : default_device;
    int precision = opts && opts->device ? opts->precision : default_precision;
    if (precision < SP_PREC_FP32 || precision > SP_PREC_BF16)
        return sp_fail(err, SP_ERR_INPUT, "precision %d is not fp32, tf32 or bf16", precision);
    if (!device || !strcmp(device, "cpu")) {
        if (precision == SP_PREC_TF32)
            return sp_fail(err, SP_ERR_INPUT, "--precision tf32: the cpu backend computes in fp32 "
                           "only, or opt-in bf16 products (use --device cuda for tf32)");
        return precision == SP_PREC_BF16 ? cpu_use_bf16(m, err) : SP_OK;
    }
    return sp_backend_attach(m, device, precision, err);
}

/* Compiling the plan takes every tensor the graph names through sp_file_tensor_data: that is
 * their first use, where the format library checks their CRC-32 unless told not to. */
int sp_model_open_opts(const char *path, const sp_model_options *opts, sp_model **out,
                       sp_error *err) {
    *out = NULL;
    sp_model *m = calloc(1, sizeof *m);
    if (!m) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    sp_file_options fopts = {.no_verify = opts && opts->no_verify};
    int rc = sp_file_open_opts(path, &fopts, &m->file, err);
    if (rc) {
        free(m);
        return rc;
    }
    size_t glen = 0;
    const char *g = sp_file_graph(m->file, &glen);
    rc = sp_graph_parse(g, glen, &m->graph, err);
    if (!rc) rc = sp_graph_compile(m, err);
    if (!rc) rc = sp_plan_build(m, err);
    if (!rc) rc = choose_backend(m, opts, err);
    if (rc) {
        sp_model_free(m);
        return rc;
    }
    *out = m;
    return SP_OK;
}

sp_file *sp_model_file(const sp_model *m) { return m->file; }
const char *sp_model_device(const sp_model *m) { return m->backend ? m->backend->device : "cpu"; }
int32_t sp_model_vocab_size(const sp_model *m) { return (int32_t)m->graph->vocab_size; }
uint64_t sp_model_context_length(const sp_model *m) { return m->graph->context_length; }
size_t sp_model_layer_count(const sp_model *m) { return m->n_layers; }


int sp_model_attention_heads(const sp_model *m, size_t layer) {
    if (layer >= m->n_layers) return 0;
    const sp_op *op = &m->ops[m->layer_op[layer]];
    return ((const sp_attn_params *)op->priv)->heads;
}

char *sp_model_describe(const sp_model *m) {
    sp_strbuf b = {0};
    const sp_graph *g = m->graph;
    sp_sb_printf(&b, "graph '%s', op-set %ld, vocab %lld, context %llu, %zu ops, %zu attention layers\n",
                 g->name ? g->name : "", g->opset, (long long)g->vocab_size,
                 (unsigned long long)g->context_length, m->n_ops, m->n_layers);
    sp_sb_printf(&b, "input %s -> output %s; ops %zu.. run per logits block of at most %d rows\n",
                 g->input, g->output, m->plan.tail_start, SP_LOGIT_BLOCK);
    for (size_t i = 0; i < m->n_ops; i++) {
        const sp_op *op = &m->ops[i];
        sp_sb_printf(&b, "%4zu %-10s %-24s (", i, op->kind->name, op->gn->name);
        for (size_t j = 0; j < op->n_in; j++)
            sp_sb_printf(&b, "%s%s", j ? ", " : "", op->gn->in[j]);
        sp_sb_printf(&b, ") -> %s [%zu]", op->gn->out, op->out_width);
        for (size_t a = 0; a < op->gn->n_attrs; a++) {
            const sp_gattr *at = &op->gn->attrs[a];
            if (at->is_seq) sp_sb_printf(&b, " %s=[%zu items]", at->key, at->n_items);
            else sp_sb_printf(&b, " %s=%s", at->key, at->scalar);
        }
        sp_sb_printf(&b, "\n");
    }
    return sp_sb_take(&b); /* NULL when memory ran out */
}
