# huginn — native inference engine and terminal chat for Huginn-0125.
#   make          build ./huginn
#   make test     install missing Debian packages, build, run every test
#   make run      install missing Debian packages, build, open the chat
#   make deps     install missing Debian packages (apt-get, as root)
#   make test-sanitize   every suite and the e2e tests under ASan + UBSan (build-san/)
#   make fuzz     libFuzzer harnesses, FUZZ_SECONDS each (default 60; build-fuzz/)
#   make install / uninstall   PREFIX (default /usr/local), DESTDIR
#   make test-arm64  cross-build for aarch64 into build-arm64/ and run every
#                 cmocka suite under qemu-aarch64 (installs what is missing)
# CFLAGS=... and CC=clang on the command line keep the project's own flags.

CC      ?= cc
VERSION := 0.1.0
# The target architecture, from the compiler (x86_64, aarch64, ...): it
# decides which arch-specific sources are built and which OpenBLAS is used.
ARCH    := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine 2>/dev/null)))
PKGS    := ncursesw readline libcjson cmocka oniguruma libcurl libmicrohttpd
# OpenBLAS: Debian's single-threaded build of the target's architecture first
# (the engine's own thread pool spreads the products; the threaded build's
# idle threads would fight it for cores), else whatever pkg-config knows as
# openblas.
OPENBLAS_PC := $(firstword $(wildcard /usr/lib/$(ARCH)-*/openblas-serial/pkgconfig/openblas.pc))
ifeq ($(OPENBLAS_PC),)
OPENBLAS_PC := $(shell pkg-config --exists openblas 2>/dev/null && echo openblas)
endif
# pkg-config name -> Debian package
DEB_ncursesw := libncurses-dev
DEB_readline := libreadline-dev
DEB_openblas := libopenblas-serial-dev
DEB_libcjson := libcjson-dev
DEB_cmocka   := libcmocka-dev
DEB_oniguruma := libonig-dev
DEB_libcurl  := libcurl4-openssl-dev
DEB_libmicrohttpd := libmicrohttpd-dev
# tools: tmux for the TUI tests, curl and node/npm for the server's (the
# official openai npm client is installed at test time into build/node)
DEB_TOOLS    := pkg-config tmux curl nodejs npm

comma   := ,
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(if $(OPENBLAS_PC),$(shell pkg-config --cflags $(OPENBLAS_PC)))
PKG_LIBS   := $(shell pkg-config --libs ncursesw readline libcjson oniguruma libcurl libmicrohttpd 2>/dev/null) \
              $(if $(OPENBLAS_PC),$(shell pkg-config --libs $(OPENBLAS_PC)) -Wl$(comma)-rpath$(comma)$(shell pkg-config --variable=libdir $(OPENBLAS_PC)))
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# Installation paths.  The binary looks for its data next to itself
# (<bin>/../share/huginn) first, then in DATADIR as compiled in.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/huginn
MANDIR  ?= $(PREFIX)/share/man/man1
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions

# CFLAGS and LDFLAGS are the user's (optimisation, debug, sanitizers); the
# project's own flags live in HG_CFLAGS / HG_LDLIBS and are always added,
# so `make CFLAGS=-O3` keeps -Icore, -pthread and the packages' flags.
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
LDFLAGS ?=
HG_CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -pthread -Icore -Iui $(PKG_CFLAGS) \
             -DHUGINN_VERSION='"$(VERSION)"'
HG_LDLIBS := $(PKG_LIBS) -lm -pthread
ALL_CFLAGS = $(HG_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(HG_LDLIBS)

BUILD   ?= build
BIN     ?= huginn
# Arch-specific sources: x86 kernels and AMX on x86-64 only, NEON kernels on
# aarch64 only; amx_none.c stands in for amx.c elsewhere.
ARCH_SRC_x86_64  := core/kernels_x86.c core/kernels_x86_q4.c core/amx.c
ARCH_SRC_aarch64 := core/kernels_arm.c core/amx_none.c
ARCH_SRC_ALL     := core/kernels_x86.c core/kernels_x86_q4.c core/amx.c core/kernels_arm.c core/amx_none.c
CORE_SRC := $(filter-out $(ARCH_SRC_ALL),$(wildcard core/*.c)) \
            $(if $(ARCH_SRC_$(ARCH)),$(ARCH_SRC_$(ARCH)),core/amx_none.c)
UI_SRC   := $(wildcard ui/*.c)
APP_SRC  := $(wildcard app/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
UI_OBJ   := $(UI_SRC:%.c=$(BUILD)/%.o)
APP_OBJ  := $(APP_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

MODEL   ?= tests/fixtures/demo-huginn

.PHONY: all deps deps-arm64 test test-arm64 unit e2e run clean test-sanitize fuzz bench install uninstall FORCE
all: $(BIN)

deps:
	@missing=""; \
	for p in $(PKGS); do pkg-config --exists $$p 2>/dev/null || missing="$$missing $$p"; done; \
	[ -n "$(OPENBLAS_PC)" ] || missing="$$missing openblas-serial"; \
	for t in pkg-config tmux curl node npm cc make; do command -v $$t >/dev/null 2>&1 || missing="$$missing tool:$$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: missing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (or install: $(DEB_ncursesw) $(DEB_readline) $(DEB_openblas) $(DEB_libcjson) $(DEB_cmocka) $(DEB_oniguruma) $(DEB_libcurl) $(DEB_libmicrohttpd) $(DEB_TOOLS))" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update && apt-get install -y --no-install-recommends build-essential $(DEB_TOOLS) \
	    $(DEB_ncursesw) $(DEB_readline) $(DEB_openblas) $(DEB_libcjson) $(DEB_cmocka) $(DEB_oniguruma) $(DEB_libcurl) $(DEB_libmicrohttpd) || exit 1; \
	fi

$(BUILD)/%.o: %.c $(wildcard core/*.h ui/*.h app/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The files that know DATADIR are rebuilt when it changes.
$(BUILD)/datadir.stamp: FORCE
	@mkdir -p $(dir $@); echo '$(DATADIR)' | cmp -s - $@ || echo '$(DATADIR)' > $@
DATADIR_OBJ := $(BUILD)/app/cli.o $(BUILD)/ui/theme.o $(BUILD)/ui/demo.o
$(DATADIR_OBJ): $(BUILD)/datadir.stamp
$(DATADIR_OBJ): EXTRA_CFLAGS = -DHUGINN_DATADIR='"$(DATADIR)"'

$(BUILD)/libhuginn.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libhuginnui.a: $(UI_OBJ)
	@mkdir -p $(dir $@); rm -f $@; printf '!<arch>\n' > $@
	$(if $(UI_OBJ),ar rcs $@ $^)

$(BIN): $(APP_OBJ) $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(APP_OBJ) $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests -Iapp -o $@ $< $(TEST_APP_OBJ) $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a $(CMOCKA_LIBS) $(LDLIBS)

# Suites of app/ code link its objects.
$(BUILD)/tests/test_serve_request: $(BUILD)/app/serve_request.o
$(BUILD)/tests/test_serve_request: TEST_APP_OBJ = $(BUILD)/app/serve_request.o
$(BUILD)/tests/test_serve_reply: $(BUILD)/app/serve_reply.o
$(BUILD)/tests/test_serve_reply: TEST_APP_OBJ = $(BUILD)/app/serve_reply.o

E2E     := $(wildcard tests/e2e_*.sh)

unit: $(BIN) $(TEST_BIN)
	@bash tests/run_all.sh $(TEST_BIN) --

e2e: $(BIN)
	@bash tests/run_all.sh -- $(E2E)

test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@bash tests/run_all.sh $(TEST_BIN) -- $(E2E)

run: deps
	@$(MAKE) --no-print-directory all
	./huginn chat --model $(MODEL) $(ARGS)

# ------------------------------------------------------------- ARM64
# A cross build with Debian's aarch64 toolchain and the arm64 multiarch
# libraries, run under qemu-aarch64 (user mode, -L / finds the arm64 loader
# and libraries in their multiarch directories).  libonig-dev is not
# co-installable across architectures (installing the arm64 one removes the
# native one), so only the arm64 runtime libonig5 is installed, the native
# header is used, and a small oniguruma.pc in build-arm64/ points the link at it.
ARM64_CC    ?= aarch64-linux-gnu-gcc
ARM64_BUILD := build-arm64
ARM64_LIB   := /usr/lib/aarch64-linux-gnu
QEMU_ARM64  ?= qemu-aarch64 -L /
ARM64_PKG_ENV := PKG_CONFIG_LIBDIR=$(ARM64_LIB)/pkgconfig:/usr/share/pkgconfig PKG_CONFIG_PATH=$(CURDIR)/$(ARM64_BUILD)/pkgconfig
DEB_ARM64   := gcc-aarch64-linux-gnu qemu-user libncurses-dev:arm64 libreadline-dev:arm64 libcjson-dev:arm64 \
               libcmocka-dev:arm64 libonig5:arm64 libopenblas-serial-dev:arm64 libcurl4-openssl-dev:arm64 libmicrohttpd-dev:arm64
ARM64_TESTS := $(TEST_SRC:tests/%.c=$(ARM64_BUILD)/tests/%)

deps-arm64: deps
	@missing=""; \
	command -v $(ARM64_CC) >/dev/null 2>&1 || missing="$$missing $(ARM64_CC)"; \
	command -v qemu-aarch64 >/dev/null 2>&1 || missing="$$missing qemu-aarch64"; \
	for p in ncursesw readline libcjson cmocka libcurl libmicrohttpd; do \
	  $(ARM64_PKG_ENV) pkg-config --exists $$p 2>/dev/null || missing="$$missing $$p:arm64"; done; \
	ls $(ARM64_LIB)/openblas-serial/pkgconfig/openblas.pc >/dev/null 2>&1 || missing="$$missing openblas-serial:arm64"; \
	ls $(ARM64_LIB)/libonig.so.5 >/dev/null 2>&1 || missing="$$missing libonig5:arm64"; \
	if [ -n "$$missing" ]; then \
	  echo "make deps-arm64: missing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps-arm64: run as root (or: dpkg --add-architecture arm64; apt-get install $(DEB_ARM64))" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64 || exit 1; \
	  apt-get update && apt-get install -y --no-install-recommends --no-remove $(DEB_ARM64) || exit 1; \
	fi
	@mkdir -p $(ARM64_BUILD)/pkgconfig
	@if [ ! -e $(ARM64_LIB)/pkgconfig/oniguruma.pc ]; then \
	  printf 'Name: oniguruma\nDescription: arm64 libonig5 with the native header\nVersion: 6\nLibs: -L%s -l:libonig.so.5\nCflags:\n' \
	    $(ARM64_LIB) > $(ARM64_BUILD)/pkgconfig/oniguruma.pc; \
	else rm -f $(ARM64_BUILD)/pkgconfig/oniguruma.pc; fi

test-arm64: deps-arm64
	@$(ARM64_PKG_ENV) $(MAKE) --no-print-directory CC=$(ARM64_CC) BUILD=$(ARM64_BUILD) BIN=$(ARM64_BUILD)/huginn \
	  $(ARM64_BUILD)/huginn $(ARM64_TESTS)
	@v=$$($(QEMU_ARM64) $(ARM64_BUILD)/huginn --version) || exit 1; echo "$$v"; \
	case "$$v" in *"kernels: neon"*) ;; *) echo "make test-arm64: no NEON kernel variant chosen" >&2; exit 1;; esac
	@HUGINN_TEST_RUNNER="$(QEMU_ARM64)" HUGINN_TEST_BIN=$(ARM64_BUILD)/huginn bash tests/run_all.sh $(ARM64_TESTS) --

# ---------------------------------------------------------------- sanitizers
# Everything built again with ASan + UBSan in build-san/ and run: every suite
# and the e2e tests.  Any report fails the run: the sanitizers halt on the
# first error and write their reports under build-san/logs (the TUI's too).
SAN_DIR    := build-san
SAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
test-sanitize: deps
	@rm -rf $(SAN_DIR)/logs; mkdir -p $(SAN_DIR)/logs
	@$(MAKE) --no-print-directory BUILD=$(SAN_DIR) BIN=$(SAN_DIR)/huginn CFLAGS="$(SAN_CFLAGS)" \
	  LDFLAGS="-fsanitize=address,undefined" $(SAN_DIR)/huginn $(TEST_BIN:$(BUILD)/%=$(SAN_DIR)/%)
	@export HUGINN_BIN=$(CURDIR)/$(SAN_DIR)/huginn HUGINN_TEST_BIN=$(CURDIR)/$(SAN_DIR)/huginn HUGINN_SANITIZE=1 \
	  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$(CURDIR)/$(SAN_DIR)/logs/asan \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/$(SAN_DIR)/logs/ubsan; \
	  bash tests/run_all.sh $(TEST_BIN:$(BUILD)/%=$(SAN_DIR)/%) -- $(E2E); rc=$$?; \
	  if ls $(SAN_DIR)/logs/* >/dev/null 2>&1; then \
	    echo "test-sanitize: sanitizer reports:"; cat $(SAN_DIR)/logs/*; rc=1; \
	  else echo "test-sanitize: no sanitizer report"; fi; exit $$rc

# ------------------------------------------------------------------- fuzzing
# libFuzzer harnesses tests/fuzz/fuzz_<target>.c against the libraries built
# with clang, ASan and UBSan in build-fuzz/; each runs FUZZ_SECONDS on a
# corpus seeded from tests/fixtures with its dictionary from tests/fuzz/.
# Any crash, leak, UB report or timeout fails the run.
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
fuzz: deps
	@command -v $(FUZZ_CC) >/dev/null 2>&1 && echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' | \
	  $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null || { \
	  echo "make fuzz: installing clang and its libFuzzer runtime"; \
	  [ "$$(id -u)" = 0 ] || { echo "make fuzz: run as root or install clang libclang-rt-dev" >&2; exit 1; }; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update && \
	  apt-get install -y --no-install-recommends clang $$(apt-cache show libclang-rt-dev >/dev/null 2>&1 && echo libclang-rt-dev) || exit 1; }
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=$(FUZZ_CC) CFLAGS="$(FUZZ_CFLAGS)" \
	  $(FUZZ_DIR)/libhuginn.a $(FUZZ_DIR)/libhuginnui.a
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=$(FUZZ_CC) $(FUZZ_BIN)
	@bash tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(notdir $(FUZZ_BIN))

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_DIR)/libhuginnui.a $(FUZZ_DIR)/libhuginn.a
	$(FUZZ_CC) $(HG_CFLAGS) -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -Itests/fuzz -Iapp -o $@ $< $(FUZZ_APP_SRC) $(FUZZ_DIR)/libhuginnui.a $(FUZZ_DIR)/libhuginn.a $(HG_LDLIBS)
# harnesses of app/ code build its sources with them
$(FUZZ_DIR)/fuzz_serve_request: app/serve_request.c app/serve_request.h
$(FUZZ_DIR)/fuzz_serve_request: FUZZ_APP_SRC = app/serve_request.c

# --------------------------------------------------------------- benchmark
# This CPU's speed figures at the full Huginn-0125 shape (random weights in
# memory): decode, prefill and wave passes with their ratios to the bandwidth
# bound and the FMA peak (minutes; about 7.5 GB of memory for bf16).
bench: deps
	@$(MAKE) --no-print-directory $(BIN)
	@sh tests/bench_cpu.sh $(abspath $(BIN))

# --------------------------------------------------------------- installing
# The binary, the man page, the themes, the demo script and the demo model
# (so that an installed `huginn chat` with no --model opens it), and bash and
# zsh completion.  DESTDIR stages a package.
INSTALL ?= install
install: $(BIN)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DATADIR)/themes \
	  $(DESTDIR)$(DATADIR)/demo $(DESTDIR)$(DATADIR)/demo-huginn $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	$(INSTALL) -m 755 $(BIN) $(DESTDIR)$(BINDIR)/huginn
	$(INSTALL) -m 644 man/huginn.1 $(DESTDIR)$(MANDIR)/huginn.1
	$(INSTALL) -m 644 themes/*.json $(DESTDIR)$(DATADIR)/themes/
	$(INSTALL) -m 644 ui/demo/default.txt $(DESTDIR)$(DATADIR)/demo/default.txt
	$(INSTALL) -m 644 tests/fixtures/demo-huginn/* $(DESTDIR)$(DATADIR)/demo-huginn/
	$(INSTALL) -m 644 completions/huginn.bash $(DESTDIR)$(BASHCOMPDIR)/huginn
	$(INSTALL) -m 644 completions/_huginn $(DESTDIR)$(ZSHCOMPDIR)/_huginn

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/huginn $(DESTDIR)$(MANDIR)/huginn.1 \
	  $(DESTDIR)$(BASHCOMPDIR)/huginn $(DESTDIR)$(ZSHCOMPDIR)/_huginn
	rm -rf $(DESTDIR)$(DATADIR)
	-rmdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
	  $(dir $(DESTDIR)$(DATADIR)) 2>/dev/null || true

clean:
	rm -rf $(BUILD) $(ARM64_BUILD) $(SAN_DIR) $(FUZZ_DIR) huginn
