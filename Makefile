# sparsa — build, test, run.
#
#   make            build build/sparsa
#   make run        the main job on the bundled example
#   make test       all Criterion tests (installs missing Debian packages first)
#   make test-asan  the same under AddressSanitizer + UBSan (build-asan/)
#   make valgrind   the test binaries under valgrind
#   make bench      benchmarks against the PyTorch reference (installs python3-torch)
#   make fuzz       run every fuzz target for FUZZ_SECONDS (libFuzzer, clang)
#   make install PREFIX=/usr/local
#
# Every part is a folder; its .c files are globbed, so adding a file needs no Makefile edit.

CC      ?= gcc
CXX     ?= g++
BUILD   ?= build
PREFIX  ?= /usr/local
# Build for the machine that builds (CI builds on its own machine). ARCH=x86-64-v3 gives a
# portable AVX2 binary; ARCH=x86-64 a baseline one.
ARCH    ?= native
OPT     ?= -O2
SAN     ?=

PKGS     := yaml-0.1 libzstd sentencepiece
DEB_PKGS := pkg-config g++ libyaml-dev libzstd-dev libcriterion-dev libsentencepiece-dev
# Open MPI for `mpirun -n N sparsa perplexity`: the binary links no MPI library and loads
# libmpi.so.40 at run time only under mpirun (eval/dist_mpi.c), so plain builds and runs need
# none; make deps installs it so that the MPI tests (tests/dist/, run by `make test` like
# every Criterion binary; skipped with the reason where mpirun is missing) have mpirun.
DEB_PKGS += openmpi-bin libopenmpi-dev
# The PyTorch reference (tests/reference/check_ref.py in `make test`, the peers of `make bench`):
# installed by those targets when missing; a failed install only skips the reference check,
# with the reason, because the golden fixtures it made are committed.
PY_DEB_PKGS := python3-torch python3-numpy python3-sentencepiece libopenblas0

# Plain `make` on a machine missing a build dependency stops with one line naming the Debian
# packages; `make deps` installs them (the targets that install for themselves skip the check).
SELF_INSTALLING := deps deps-python test test-asan valgrind run bench fuzz clean
# bench-cuda runs on a GPU machine that has the binaries built elsewhere, not the -dev packages.
ifeq ($(filter $(SELF_INSTALLING) bench-cuda,$(MAKECMDGOALS)),)
MISSING_DEBS := $(strip \
    $(if $(shell command -v pkg-config),,pkg-config) \
    $(if $(shell command -v $(CXX)),,g++) \
    $(if $(shell pkg-config --exists yaml-0.1 2>/dev/null && echo y),,libyaml-dev) \
    $(if $(shell pkg-config --exists libzstd 2>/dev/null && echo y),,libzstd-dev) \
    $(if $(shell pkg-config --exists sentencepiece 2>/dev/null && echo y),,libsentencepiece-dev))
ifneq ($(MISSING_DEBS),)
$(error sparsa needs the Debian packages: $(MISSING_DEBS) — run 'make deps' to install them)
endif
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRIT_CFLAGS = $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS   = $(shell pkg-config --libs criterion 2>/dev/null)

WARN     := -Wall -Wextra -Werror
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) $(OPT) -g -march=$(ARCH) -fopenmp $(SAN) $(PKG_CFLAGS)
CXXFLAGS += -std=c++17 $(WARN) $(OPT) -g -march=$(ARCH) $(SAN) $(PKG_CFLAGS)

# The dependency rule of docs/ARCHITECTURE.md, enforced by include paths: a part's sources see
# their own folder and the public headers (sparsa_*.h) of the parts below them, nothing else,
# so including another part's internal header, or a part above, fails to compile. The public
# headers are linked into $(PUB)/<part>/ so that a part's folder is not opened to others.
PUB            := $(BUILD)/public
PUBLIC_HEADERS := $(wildcard common/sparsa_*.h format/sparsa_*.h interpreter/sparsa_*.h \
                    tokenizer/sparsa_*.h converters/sparsa_*.h eval/sparsa_*.h)
PUBLIC_LINKS   := $(PUBLIC_HEADERS:%=$(PUB)/%)
sees = $(foreach p,$(1),-I$(PUB)/$(p))
$(BUILD)/common/%.o:      PART_INC = -Icommon
$(BUILD)/format/%.o:      PART_INC = -Iformat $(call sees,common)
$(BUILD)/interpreter/%.o: PART_INC = -Iinterpreter -Iinterpreter/attention -Iinterpreter/kernels \
                                     $(call sees,format common)
$(BUILD)/tokenizer/%.o:   PART_INC = -Itokenizer $(call sees,format common)
$(BUILD)/converters/%.o:  PART_INC = -Iconverters $(call sees,interpreter format common)
$(BUILD)/eval/%.o:        PART_INC = -Ieval $(call sees,interpreter tokenizer format common)
$(BUILD)/cli/%.o:         PART_INC = -Icli $(call sees,eval converters interpreter tokenizer format common)
# Tests, benchmarks and fuzz harnesses may look inside every part.
INCLUDES := -Icommon -Iformat -Iinterpreter -Iinterpreter/attention -Iinterpreter/kernels \
            -Iconverters -Itokenizer -Ieval
LDLIBS   += $(PKG_LIBS) -lstdc++ -lm -fopenmp $(SAN)

# Parts, lowest first. The CLI links all of them; tests link the library.
LIB_C   := $(wildcard common/*.c) \
           $(wildcard format/*.c) \
           $(wildcard interpreter/*.c interpreter/*/*.c) \
           $(wildcard converters/*.c converters/*/*.c) \
           $(wildcard tokenizer/*.c) \
           $(wildcard eval/*.c)
LIB_CXX := $(wildcard tokenizer/*.cc)
CLI_C   := $(wildcard cli/*.c)
TEST_C  := $(wildcard tests/*/test_*.c)
BENCH_C := $(wildcard bench/*.c)

LIB_OBJ  := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cc=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_C:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_C:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_C:bench/%.c=$(BUILD)/bench/%)
LIB      := $(BUILD)/libsparsa.a
SPARSA   := $(BUILD)/sparsa

.PHONY: all deps deps-python run test test-asan valgrind bench fuzz install clean fixtures
.DEFAULT_GOAL := all

all: $(SPARSA)

$(PUB)/%.h: %.h
	@mkdir -p $(dir $@)
	@ln -sf $(abspath $<) $@

$(BUILD)/%.o: %.c | $(PUBLIC_LINKS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PART_INC) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cc | $(PUBLIC_LINKS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(PART_INC) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SPARSA): $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(CLI_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(LIB) $(wildcard tests/util/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INCLUDES) $(CRIT_CFLAGS) -Itests/util $< $(LIB) $(CRIT_LIBS) $(LDLIBS) $(TEST_LDFLAGS) -o $@

# The self-check test corrupts the written file between writing and checking.
$(BUILD)/tests/converters/test_convert_selfcheck: TEST_LDFLAGS = \
    -Wl,--wrap=sp_writer_draft_checked,--wrap=sp_writer_finish_checked

# Benchmark programs; they link OpenBLAS (for comparison only) when pkg-config finds it.
BLAS_CFLAGS = $(shell pkg-config --exists openblas 2>/dev/null && \
                echo "-DSP_HAVE_OPENBLAS $$(pkg-config --cflags openblas)")
BLAS_LIBS   = $(shell pkg-config --libs openblas 2>/dev/null)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INCLUDES) $(BLAS_CFLAGS) $< $(LIB) $(LDLIBS) $(BLAS_LIBS) -o $@

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# $(call apt_install,PACKAGES,WHAT,ON_FAILURE,REDIRECT): installs those of PACKAGES that dpkg
# does not have (through sudo when not root), apt-get's output sent to REDIRECT; ON_FAILURE is
# the command run when apt-get fails.
apt_install = missing=""; for p in $(1); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing$(2):$$missing"; \
	    SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	    { $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q $(4) && \
	      $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing $(4); } \
	        || $(3); \
	fi

# Installs the Debian packages the build needs, only when one is missing.
deps:
	@$(call apt_install,$(DEB_PKGS),,exit 1,)

deps-python:
	@$(call apt_install,$(PY_DEB_PKGS), (the PyTorch reference),echo "could not install$$missing: \
	    the PyTorch reference checks will be skipped",>/dev/null)

# Tests run from the repository root so fixtures are found at tests/fixtures/.
test: deps deps-python
	@$(MAKE) --no-print-directory $(SPARSA) $(TEST_BIN) cuda
	@fail=0; : > $(BUILD)/test-tally; for t in $(TEST_BIN); do \
	    echo "== $$t"; SPARSA_BIN=$(SPARSA) XDG_CACHE_HOME=$(abspath $(BUILD))/test-cache \
	    sh tests/run_criterion.sh $(BUILD)/test-tally $$t --jobs 2 || fail=1; done; \
	awk '{ r += $$1; p += $$2; s += $$3 } END { printf "Criterion: %d binaries, %d tests run, " \
	    "%d passed, %d skipped (each [SKIP] line above gives its reason)\n", NR, r, p, s }' \
	    $(BUILD)/test-tally; \
	echo "== tests/reference/check_ref.py (the PyTorch reference against the test vectors)"; \
	if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then \
	    /usr/bin/python3 tests/reference/check_ref.py >$(BUILD)/check_ref.log 2>&1 \
	        && tail -n 1 $(BUILD)/check_ref.log || { cat $(BUILD)/check_ref.log; fail=1; }; \
	else echo "SKIPPED: python3-torch is not installed (/usr/bin/python3 cannot import torch)"; fi; \
	if [ $$fail -ne 0 ]; then echo "FAILED"; exit 1; fi; echo "all tests passed"

test-asan: deps
	@$(MAKE) --no-print-directory test BUILD=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# valgrind 3.19 cannot decode AVX-512, so this build targets AVX2 (kernels dispatch at run time).
# OMP_WAIT_POLICY is set because sparsa otherwise executes itself again with it set
# (cli/threads_setup.c), and under valgrind /proc/self/exe is valgrind's own loader.
VG_BUILD := build-valgrind
valgrind: deps
	@$(MAKE) --no-print-directory BUILD=$(VG_BUILD) ARCH=x86-64-v3 \
	    $(VG_BUILD)/sparsa $(TEST_C:tests/%.c=$(VG_BUILD)/tests/%)
	@fail=0; for t in $(TEST_C:tests/%.c=$(VG_BUILD)/tests/%); do echo "== valgrind $$t"; \
	    SPARSA_BIN=$(VG_BUILD)/sparsa OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE \
	      XDG_CACHE_HOME=$(abspath $(VG_BUILD))/test-cache valgrind -q --trace-children=yes \
	      --leak-check=full --error-exitcode=9 $$t -j1 || fail=1; done; [ $$fail -eq 0 ]

# The main job: perplexity of the bundled example models (see examples/README.md).
run: deps
	@$(MAKE) --no-print-directory $(SPARSA)
	@sh examples/run.sh $(SPARSA)

bench: deps deps-python
	@$(MAKE) --no-print-directory $(SPARSA) $(BENCH_BIN)
	@sh bench/run.sh $(SPARSA)

FUZZ_SECONDS ?= 600
fuzz: deps
	@sh fuzz/run.sh $(FUZZ_SECONDS)

# ---- The CUDA module ------------------------------------------------------------------------
# libsparsa-cuda.so: the GPU backend, loaded with dlopen by `--device cuda[:N]` only (the sparsa
# binary links no CUDA library; docs/ARCHITECTURE.md, "Backends"). cudart is linked statically,
# cuBLAS dynamically. It sees its own folder and the public headers of interpreter/ and common/.
#   make cuda       the module and the GPU tests (one line and exit 0 where nvcc is missing)
#   make test-cuda  the same, then the GPU tests (says so and exits 0 where no GPU is present)
NVCC      ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# sm_90a: Hopper's warpgroup products (wgmma) for the attention fast path; the compute_90 PTX
# runs everywhere else (without them).
CUDA_GENCODE := -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_90,code=compute_90
NVCCFLAGS ?= -std=c++17 -O3 $(CUDA_GENCODE) -cudart static \
             -Xcompiler -fPIC,-Wall,-Wextra,-Werror,-fvisibility=hidden
CUDA_SRC  := $(wildcard cuda/*.cu) $(CUDA_EXTRA_SRC)
CUDA_OBJ  := $(patsubst %.cu,$(BUILD)/cuda/%.o,$(notdir $(CUDA_SRC)))
CUDA_LIB  := $(BUILD)/libsparsa-cuda.so
CUDA_TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/cuda/test_*.c))
vpath %.cu cuda $(sort $(dir $(CUDA_EXTRA_SRC)))

.PHONY: cuda test-cuda
ifeq ($(NVCC),)
cuda: $(CUDA_TEST_BIN)
	@echo "make cuda: nvcc not found (CUDA toolkit missing); libsparsa-cuda.so not built"
else
cuda: $(CUDA_LIB) $(CUDA_TEST_BIN)

$(BUILD)/cuda/%.o: %.cu | $(PUBLIC_LINKS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -Icuda -I$(PUB)/interpreter -I$(PUB)/common -MMD -MP -c $< -o $@

# The module's one-line errors are the floor's sp_fail, compiled into it and kept hidden.
CUDA_COMMON_OBJ := $(BUILD)/cuda/common_error.o
$(CUDA_COMMON_OBJ): common/error.c | $(PUBLIC_LINKS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -Icommon -MMD -MP -c $< -o $@

$(CUDA_LIB): $(CUDA_OBJ) $(CUDA_COMMON_OBJ)
	$(NVCC) -shared $(CUDA_GENCODE) -cudart static -o $@ $^ -L$(CUDA_HOME)/lib64 -lcublas -lcublasLt

# The GPU tests see the CUDA headers and link the attention family (an archive, so a test
# takes only what it calls) with the static cudart; tests that go through --device load the
# module like the sparsa binary does.
CUDA_ATTN_AR := $(BUILD)/cuda/libcu_attn.a
$(CUDA_ATTN_AR): $(filter $(BUILD)/cuda/cu_attn_%.o,$(CUDA_OBJ))
	rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/cuda/%: tests/cuda/%.c $(LIB) $(CUDA_ATTN_AR) $(wildcard tests/util/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INCLUDES) -Icuda -I$(CUDA_HOME)/include $(CRIT_CFLAGS) -Itests/util $< $(LIB) \
	    $(CUDA_ATTN_AR) -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lpthread $(CRIT_LIBS) \
	    $(LDLIBS) -o $@

-include $(CUDA_OBJ:.o=.d)
endif

test-cuda: deps
	@$(MAKE) --no-print-directory $(SPARSA) cuda
	@if [ ! -f $(CUDA_LIB) ]; then echo "make test-cuda: no CUDA module built; nothing to run"; exit 0; fi; \
	if ! nvidia-smi -L >/dev/null 2>&1; then \
	    echo "make test-cuda: no GPU on this machine (module and GPU tests built, not run)"; exit 0; fi; \
	fail=0; for t in $(CUDA_TEST_BIN); do echo "== $$t"; \
	    SPARSA_BIN=$(SPARSA) SPARSA_CUDA_MODULE=$(abspath $(CUDA_LIB)) $$t --jobs 1 || fail=1; done; \
	[ $$fail -eq 0 ]

# GPU benchmarks, sparsa against PyTorch side by side (bench/bench_cuda.sh; docs/SCALING.md,
# "One GPU"). Builds sparsa and the module only when missing: on the GPU machine they
# are binaries brought along.
.PHONY: bench-cuda
bench-cuda:
	@[ -x $(SPARSA) ] || $(MAKE) --no-print-directory $(SPARSA)
	@[ -f $(CUDA_LIB) ] || $(MAKE) --no-print-directory cuda || echo "bench-cuda: no CUDA module"
	@sh bench/bench_cuda.sh $(SPARSA)

# Regenerates the golden fixtures with the PyTorch reference (needs python3-torch).
fixtures:
	/usr/bin/python3 tests/reference/make_fixtures.py tests/fixtures

install: $(SPARSA)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(SPARSA) $(DESTDIR)$(PREFIX)/bin/sparsa

clean:
	rm -rf build build-asan build-fuzz build-valgrind
