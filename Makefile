# huginn — native inference engine and terminal chat for Huginn-0125.
#   make          build ./huginn
#   make test     install missing Debian packages, build, run every test
#   make run      install missing Debian packages, build, open the chat
#   make deps     install missing Debian packages (apt-get, as root)

CC      ?= cc
PKGS    := ncursesw readline libcjson cmocka oniguruma
# OpenBLAS, the single-threaded build: the engine's own thread pool spreads
# the products; the threaded build's idle threads would fight it for cores.
OPENBLAS_PC := $(firstword $(wildcard /usr/lib/*/openblas-serial/pkgconfig/openblas.pc))
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

BUILD   := build
CORE_SRC := $(wildcard core/*.c)
UI_SRC   := $(wildcard ui/*.c)
APP_SRC  := $(wildcard app/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
UI_OBJ   := $(UI_SRC:%.c=$(BUILD)/%.o)
APP_OBJ  := $(APP_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

MODEL   ?= tests/fixtures/demo-huginn

.PHONY: all deps test unit e2e run clean
all: huginn

deps:
	@missing=""; \
	for p in $(PKGS); do pkg-config --exists $$p 2>/dev/null || missing="$$missing $$p"; done; \
	ls /usr/lib/*/openblas-serial/pkgconfig/openblas.pc >/dev/null 2>&1 || missing="$$missing openblas-serial"; \
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

huginn: $(APP_OBJ) $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a
	$(CC) $(CFLAGS) -o $@ $(APP_OBJ) $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libhuginnui.a $(BUILD)/libhuginn.a $(CMOCKA_LIBS) $(LDLIBS)

E2E     := $(wildcard tests/e2e_*.sh)

unit: huginn $(TEST_BIN)
	@bash tests/run_all.sh $(TEST_BIN) --

e2e: huginn
	@bash tests/run_all.sh -- $(E2E)

test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@bash tests/run_all.sh $(TEST_BIN) -- $(E2E)

run: deps
	@$(MAKE) --no-print-directory all
	./huginn chat --model $(MODEL) $(ARGS)

clean:
	rm -rf $(BUILD) huginn
