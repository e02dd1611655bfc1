// spm_shim.cc — extern "C" wrapper over sentencepiece::SentencePieceProcessor.
// Why a shim: the library is C++-only (no C header); this file is the only C++ in sparsa.
// Nothing may escape: every entry point catches every exception and reports it as text.
#include "spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>

struct spm_shim {
    sentencepiece::SentencePieceProcessor p;
};

namespace {

void set_err(char **err, const std::string &msg) noexcept {
    if (!err) return;
    *err = static_cast<char *>(std::malloc(msg.size() + 1));
    if (*err) std::memcpy(*err, msg.c_str(), msg.size() + 1);
}

void set_err(char **err, const char *msg) noexcept {
    try {
        set_err(err, std::string(msg));
    } catch (...) {
        if (err) *err = nullptr;
    }
}

template <class F>
spm_shim *load(char **err, F &&fn) noexcept {
    spm_shim *s = nullptr;
    try {
        s = new spm_shim;
        sentencepiece::util::Status st = fn(s->p);
        if (!st.ok()) {
            set_err(err, st.ToString());
            delete s;
            return nullptr;
        }
        return s;
    } catch (const std::exception &e) {
        set_err(err, e.what());
    } catch (...) {
        set_err(err, "unknown exception in sentencepiece");
    }
    delete s;
    return nullptr;
}

}  // namespace

extern "C" spm_shim *spm_shim_load_file(const char *path, char **err) {
    return load(err, [&](sentencepiece::SentencePieceProcessor &p) { return p.Load(path); });
}

extern "C" spm_shim *spm_shim_load_bytes(const void *bytes, size_t len, char **err) {
    return load(err, [&](sentencepiece::SentencePieceProcessor &p) {
        return p.LoadFromSerializedProto(
            std::string_view(static_cast<const char *>(bytes), len));
    });
}

extern "C" void spm_shim_free(spm_shim *s) {
    try {
        delete s;
    } catch (...) {
    }
}

#define SHIM_INT(name, call)                    \
    extern "C" int name(const spm_shim *s) {    \
        try {                                   \
            return s->p.call();                 \
        } catch (...) {                         \
            return -1;                          \
        }                                       \
    }
SHIM_INT(spm_shim_vocab_size, GetPieceSize)
SHIM_INT(spm_shim_bos, bos_id)
SHIM_INT(spm_shim_eos, eos_id)
SHIM_INT(spm_shim_unk, unk_id)

extern "C" int spm_shim_inner_space_piece(const spm_shim *s) {
    try {
        static const std::string space = "\xe2\x96\x81";  // U+2581
        const int n = s->p.GetPieceSize();
        for (int i = 0; i < n; i++) {
            if (s->p.IsControl(i) || s->p.IsUnknown(i) || s->p.IsByte(i)) continue;
            const std::string &piece = s->p.IdToPiece(i);
            if (piece.size() > space.size() && piece.find(space, 1) != std::string::npos)
                return 1;
        }
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" long spm_shim_encode(const spm_shim *s, const char *text, size_t len, int **ids,
                                char **err) {
    *ids = nullptr;
    try {
        std::vector<int> v;
        sentencepiece::util::Status st = s->p.Encode(std::string_view(text, len), &v);
        if (!st.ok()) {
            set_err(err, st.ToString());
            return -1;
        }
        if (v.empty()) return 0;
        *ids = static_cast<int *>(std::malloc(v.size() * sizeof(int)));
        if (!*ids) {
            set_err(err, "out of memory");
            return -1;
        }
        std::memcpy(*ids, v.data(), v.size() * sizeof(int));
        return static_cast<long>(v.size());
    } catch (const std::bad_alloc &) {
        set_err(err, "out of memory");
    } catch (const std::exception &e) {
        set_err(err, e.what());
    } catch (...) {
        set_err(err, "unknown exception in sentencepiece");
    }
    return -1;
}

extern "C" char *spm_shim_decode(const spm_shim *s, const int *ids, size_t n, size_t *len,
                                 char **err) {
    try {
        std::vector<int> v(ids, ids + n);
        std::string out;
        sentencepiece::util::Status st = s->p.Decode(v, &out);
        if (!st.ok()) {
            set_err(err, st.ToString());
            return nullptr;
        }
        char *r = static_cast<char *>(std::malloc(out.size() + 1));
        if (!r) {
            set_err(err, "out of memory");
            return nullptr;
        }
        std::memcpy(r, out.data(), out.size());
        r[out.size()] = 0;
        *len = out.size();
        return r;
    } catch (const std::bad_alloc &) {
        set_err(err, "out of memory");
    } catch (const std::exception &e) {
        set_err(err, e.what());
    } catch (...) {
        set_err(err, "unknown exception in sentencepiece");
    }
    return nullptr;
}
