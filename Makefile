# huginn — native inference engine and terminal chat for Huginn-0125.
#   make          build ./huginn
#   make test     install missing Debian packages, build, run every test
#   make run      install missing Debian packages, build, open the chat
#   make deps     install missing Debian packages (apt-get, as root)
#   make test-arm64  cross-build for aarch64 into build-arm64/ and run every
#                 cmocka suite under qemu-aarch64 (installs what is missing)

CC      ?= cc
# The target architecture, from the compiler (x86_64, aarch64, ...): it
# decides which arch-specific sources are built and which OpenBLAS is used.
ARCH    := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine 2>/dev/null)))
PKGS    := ncursesw readline libcjson cmocka oniguruma
# OpenBLAS, the single-threaded build: the engine's own thread pool spreads
# the products; the threaded build's idle threads would fight it for cores.
# Debian multiarch: the one of the target's architecture.
OPENBLAS_PC := $(firstword $(wildcard /usr/lib/$(ARCH)-*/openblas-serial/pkgconfig/openblas.pc))
# pkg-config name -> Debian package
DEB_ncursesw := libncurses-dev
DEB_readline := libreadline-dev
DEB_openblas := libopenblas-serial-dev
DEB_libcjson := libcjson-dev
DEB_cmocka   := libcmocka-dev
DEB_oniguruma := libonig-dev
DEB_TOOLS    := pkg-config tmux

comma   := ,
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(if $(OPENBLAS_PC),$(shell pkg-config --cflags $(OPENBLAS_PC)))
PKG_LIBS   := $(shell pkg-config --libs ncursesw readline libcjson oniguruma 2>/dev/null) \
              $(if $(OPENBLAS_PC),$(shell pkg-config --libs $(OPENBLAS_PC)) -Wl$(comma)-rpath$(comma)$(shell pkg-config --variable=libdir $(OPENBLAS_PC)))
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -pthread -Icore -Iui $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -pthread

BUILD   ?= build
BIN     ?= huginn
# Arch-specific sources: x86 kernels and AMX on x86-64 only, NEON kernels on
# aarch64 only; amx_none.c stands in for amx.c elsewhere.
ARCH_SRC_x86_64  := core/kernels_x86.c core/amx.c
ARCH_SRC_aarch64 := core/kernels_arm.c core/amx_none.c
ARCH_SRC_ALL     := core/kernels_x86.c core/amx.c core/kernels_arm.c core/amx_none.c
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

.PHONY: all deps deps-arm64 test test-arm64 unit e2e run clean
all: $(BIN)

deps:
	@missing=""; \
	for p in $(PKGS); do pkg-config --exists $$p 2>/dev/null || missing="$$missing $$p"; done; \
	ls /usr/lib/$(ARCH)-*/openblas-serial/pkgconfig/openblas.pc >/dev/null 2>&1 || missing="$$missing openblas-serial"; \
	for t in pkg-config tmux cc make; do command -v $$t >/dev/null 2>&1 || missing="$$missing tool:$$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: missing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (or install: $(DEB_ncursesw) $(DEB_readline) $(DEB_openblas) $(DEB_libcjson) $(DEB_cmocka) $(DEB_oniguruma) $(DEB_TOOLS))" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update && apt-get install -y --no-install-recommends build-essential $(DEB_TOOLS) \
	    $(DEB_ncursesw) $(DEB_readline) $(DEB_openblas) $(DEB_libcjson) $(DEB_cmocka) $(DEB_oniguruma) || exit 1; \
	fi

$(BUILD)/%.o: %.c $(wildcard core/*.h ui/*.h app/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libhuginn.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libhuginnui.a: $(UI_OBJ)
	@mkdir -p $(dir $@); rm -f $@; printf '!<arch>\n' > $@
	$(if $(UI_OBJ),ar rcs $@ $^)

$(BIN): $(APP_OBJ) $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a
	$(CC) $(CFLAGS) -o $@ $(APP_OBJ) $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a $(CMOCKA_LIBS) $(LDLIBS)

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
               libcmocka-dev:arm64 libonig5:arm64 libopenblas-serial-dev:arm64
ARM64_TESTS := $(TEST_SRC:tests/%.c=$(ARM64_BUILD)/tests/%)

deps-arm64: deps
	@missing=""; \
	command -v $(ARM64_CC) >/dev/null 2>&1 || missing="$$missing $(ARM64_CC)"; \
	command -v qemu-aarch64 >/dev/null 2>&1 || missing="$$missing qemu-aarch64"; \
	for p in ncursesw readline libcjson cmocka; do \
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

clean:
	rm -rf $(BUILD) $(ARM64_BUILD) huginn
