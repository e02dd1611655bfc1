/* inputs.c — the identities (device + inode, symlinks followed) of the files a command reads,
 * so that no output can resolve to one of them (output_check.c). */
#include <stdlib.h>
#include <string.h>

#include "common_internal.h"

typedef struct input_id {
    dev_t dev;
    ino_t ino;
} input_id;

static input_id *inputs;
static size_t input_count, input_cap;
static int inputs_incomplete;  /* an identity could not be recorded (out of memory) */

void sp_inputs_add(const char *path) {
    struct stat st;
    if (!path || !strcmp(path, "-") || stat(path, &st) != 0) return;
    if (inputs_incomplete) return;  /* every output is refused already (sp_inputs_match) */
    if (sp_inputs_match(st.st_dev, st.st_ino)) return;  /* recorded under another name */
    if (input_count == input_cap) {
        size_t cap = input_cap ? input_cap * 2 : 16;
        input_id *grown = realloc(inputs, cap * sizeof *grown);
        if (!grown) {
            inputs_incomplete = 1;
            return;
        }
        inputs = grown;
        input_cap = cap;
    }
    inputs[input_count++] = (input_id){st.st_dev, st.st_ino};
}

void sp_inputs_clear(void) {
    free(inputs);
    inputs = NULL;
    input_count = input_cap = 0;
    inputs_incomplete = 0;
}

int sp_inputs_match(dev_t dev, ino_t ino) {
    if (inputs_incomplete) return 1;
    for (size_t i = 0; i < input_count; i++)
        if (inputs[i].dev == dev && inputs[i].ino == ino) return 1;
    return 0;
}
