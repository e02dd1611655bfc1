/* inspect_verify.c — `inspect --verify`: every check that opening the file for execution runs,
 * so OK means a run will not refuse the file: each tensor's stored bytes against its CRC-32
 * (every tensor, also those the graph does not use; zstd frames decoded), the graph against
 * the tensors (schema, shapes, dtypes, attention attributes such as ALiBi/NAPE slopes per
 * head: the interpreter's own open), and the tokenizer, when the file has one, against the
 * model's vocabulary (loadable, one piece per row, BOS/EOS/UNK inside). The first failure is
 * kept in x->verify_err. */
#include "inspect.h"
#include "sparsa_eval.h"

void inspect_verify(inspect_facts *x) {
    x->verified = 1;
    sp_error *err = &x->verify_err;
    if (sp_file_verify(x->f, err)) return;
    sp_model *m = NULL;
    if (sp_eval_open_model(x->path, &m, err)) return;
    x->verified_graph = 1;
    sp_tokenizer *tok = NULL;
    if (!sp_eval_model_tokenizer(m, &tok, err) && tok &&
        !sp_eval_tokenizer_fits(tok, sp_model_vocab_size(m), err))
        x->verified_tokenizer = 1;
    sp_tokenizer_free(tok);
    sp_model_free(m);
}
