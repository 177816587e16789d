# logcast - build, run, test and benchmark.
#
#   make            build everything into build/
#   make run        start the whole stack on http://127.0.0.1:8080/ (PORT=...)
#   make check      run the test suite (alias: make test)
#   make bench      run the benchmarks
#   make install    install under $(PREFIX) (DESTDIR for staging)
#
#   make DEVELOPER=1                  warnings become errors
#   make SANITIZE=address,undefined   build everything with sanitizers
#
# `run`, `check` and `bench` first make sure the Debian packages they need
# are installed (cmd/deps.sh): as root they apt-get them, otherwise they
# print the exact apt-get line and stop.

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
LIBEXEC  ?= $(PREFIX)/lib/logcast
SHAREDIR ?= $(PREFIX)/share/logcast
SYSCONF  ?= /etc/logcast
UNITDIR  ?= /etc/systemd/system

CC       ?= cc
CFLAGS   ?= -O2 -g
PKGS     := jansson libcurl libcrypto

B        := build
STD      := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Wvla
ifdef DEVELOPER
WARN     += -Werror
endif
ifdef SANITIZE
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ALL_CFLAGS  = $(STD) $(WARN) $(CFLAGS) $(SANFLAGS) -Ishared $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS) -pthread

SHARED_SRC := $(wildcard shared/*.c)
SHARED_OBJ := $(SHARED_SRC:%.c=$(B)/%.o)
LIBSHARED  := $(B)/libshared.a

# Programs: name -> main source.  Each links libshared.a.
PROGS      := $(B)/logcast
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNITS      := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# Which libraries each program needs beyond libc.
LIBS_logcast :=

.PHONY: all run check test bench install uninstall clean deps-build FORCE
all: $(PROGS) $(UNITS)

# Rebuild everything when the flags change (like git's GIT-CFLAGS).
$(B)/.flags: FORCE
	@mkdir -p $(B)
	@echo '$(ALL_CFLAGS) $(ALL_LDFLAGS)' > $(B)/.flags.new
	@cmp -s $(B)/.flags.new $@ && rm -f $(B)/.flags.new || mv $(B)/.flags.new $@

$(B)/%.o: %.c $(B)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBSHARED): $(SHARED_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/logcast: $(B)/cmd/logcast.o $(LIBSHARED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_logcast)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBSHARED)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

run: deps-run all
	@cmd/run.sh

check test: deps-check all
	@tests/run-tests.sh

bench: deps-bench all
	@bench/run.sh

deps-%:
	@cmd/deps.sh $*

install: all
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(LIBEXEC)'
	install -m 755 $(B)/logcast '$(DESTDIR)$(BINDIR)/logcast'

uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/logcast'
	rm -rf '$(DESTDIR)$(LIBEXEC)'

clean:
	rm -rf $(B) tests/results

-include $(SHARED_OBJ:.o=.d) $(wildcard $(B)/cmd/*.d $(B)/tests/unit/*.d)
