/* ppl_report.h — private to eval/: what the table (report.c) and the JSON document
 * (report_json.c) of a perplexity run share. */
#ifndef SPARSA_EVAL_PPL_REPORT_H
#define SPARSA_EVAL_PPL_REPORT_H

#include "sparsa_eval.h"

/* The BOS handling a protocol really uses ("replace" for second-half, "prefix" for rolling). */
const char *sp_ppl_effective_bos(const sp_ppl_protocol *p);
/* Σ NLL of a row's targets, as mean_nll × tokens_scored (docs/PROTOCOLS.md). */
double sp_ppl_row_nll_sum(const sp_ppl_row *r);

#endif
