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
# Building checks the compiler and -dev packages first; `run`, `check` and
# `bench` also the programs they start (cmd/deps.sh): as root they
# apt-get them, otherwise they print the exact apt-get line and stop.

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

# Programs are thin main()s over shared/, one .c file each:
#   cmd/NAME.c  -> build/NAME       (the CLI, the WebSocket child, the dispatcher)
#   fcgi/NAME.c -> build/NAME       (FastCGI responders; they also run as CGI)
#   cgi/NAME.c  -> build/cgi/NAME   (CGI programs)
# Every program links libshared.a and the libraries below; --as-needed keeps
# only those it uses, so a lean program (the WebSocket child) stays lean.
CMD_PROGS  := $(patsubst cmd/%.c,$(B)/%,$(wildcard cmd/*.c))
FCGI_PROGS := $(patsubst fcgi/%.c,$(B)/%,$(wildcard fcgi/*.c))
CGI_PROGS  := $(patsubst cgi/%.c,$(B)/cgi/%,$(wildcard cgi/*.c))
PROGS      := $(CMD_PROGS) $(FCGI_PROGS) $(CGI_PROGS)
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNITS      := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# benchmark programs that use the library (bench/run.sh builds the others)
BENCH_PROGS := $(B)/bench/logbench
PROG_LIBS   = -Wl,--as-needed $(PKG_LIBS) -lfcgi

.PHONY: all run check test bench install uninstall clean deps-build FORCE
all: $(PROGS) $(UNITS) $(BENCH_PROGS)

# Rebuild everything when the flags change (like git's GIT-CFLAGS).
# Every object waits for this, so the build packages are checked first
# (installed as root, else the apt-get line is printed) even with -j.
$(B)/.flags: FORCE
	@cmd/deps.sh build
	@mkdir -p $(B)
	@echo '$(ALL_CFLAGS) $(ALL_LDFLAGS)' > $(B)/.flags.new
	@cmp -s $(B)/.flags.new $@ && rm -f $(B)/.flags.new || mv $(B)/.flags.new $@

$(B)/%.o: %.c $(B)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBSHARED): $(SHARED_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/%: $(B)/cmd/%.o $(LIBSHARED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROG_LIBS)

# The WebSocket child runs once per socket, and every message wakes all
# of them: linked statically it maps and touches far fewer pages per
# wake-up, which on a machine with thousands of them is most of the cost
# of a delivery (bench/ws.sh).  It needs nothing but libc.  Sanitized
# builds stay dynamic.
WS_STATIC := $(if $(SANITIZE),,-static)
$(B)/logcast-ws: $(B)/cmd/logcast-ws.o $(LIBSHARED)
	$(CC) $(ALL_LDFLAGS) $(WS_STATIC) -o $@ $^

$(B)/%: $(B)/fcgi/%.o $(LIBSHARED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROG_LIBS)

$(B)/cgi/%: $(B)/cgi/%.o $(LIBSHARED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROG_LIBS)

$(B)/bench/%: $(B)/bench/%.o $(LIBSHARED)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROG_LIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBSHARED)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROG_LIBS)

run: deps-run all
	@cmd/run.sh

check test: deps-check all
	@tests/run-tests.sh

bench: deps-bench all $(BENCH_PROGS)
	@bench/run.sh

deps-%:
	@cmd/deps.sh $*

# Installed layout: the CLI in BINDIR, programs in LIBEXEC, the page and
# error documents in SHAREDIR, configs in SYSCONF (an existing
# logcast.env is kept), systemd units in UNITDIR.  The units run as the
# system user "logcast" in group www-data (create it once, see README).
SUBST = sed -e 's|@LIBEXEC@|$(LIBEXEC)|g' -e 's|@SHAREDIR@|$(SHAREDIR)|g' \
	    -e 's|@SYSCONF@|$(SYSCONF)|g'
UNITS_SRC = fcgi/logcast-api.service cmd/logcast-ws.service \
	    cmd/logcast-dispatch.service cmd/logcast-lighttpd.service

install: all
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(LIBEXEC)/cgi' \
		'$(DESTDIR)$(SHAREDIR)/www' '$(DESTDIR)$(SHAREDIR)/errors' \
		'$(DESTDIR)$(SYSCONF)' '$(DESTDIR)$(UNITDIR)'
	install -m 755 $(B)/logcast '$(DESTDIR)$(BINDIR)/logcast'
	install -m 755 $(FCGI_PROGS) $(filter-out $(B)/logcast,$(CMD_PROGS)) \
		'$(DESTDIR)$(LIBEXEC)/'
	install -m 755 $(CGI_PROGS) '$(DESTDIR)$(LIBEXEC)/cgi/'
	cp -R www/. '$(DESTDIR)$(SHAREDIR)/www/'
	rm -f '$(DESTDIR)$(SHAREDIR)/www/bench.json'
	install -m 644 fcgi/errors/* '$(DESTDIR)$(SHAREDIR)/errors/'
	install -m 644 README.md '$(DESTDIR)$(SHAREDIR)/README.md'
	install -m 644 lighttpd.conf apache.conf '$(DESTDIR)$(SYSCONF)/'
	test -e '$(DESTDIR)$(SYSCONF)/logcast.env' || \
		$(SUBST) cmd/logcast.env >'$(DESTDIR)$(SYSCONF)/logcast.env'
	for u in $(UNITS_SRC); do \
		$(SUBST) $$u >'$(DESTDIR)$(UNITDIR)/'$$(basename $$u) || exit 1; \
	done
	@echo "installed; as root: useradd --system --gid www-data --home /var/lib/logcast logcast"
	@echo "then: systemctl daemon-reload && systemctl enable --now logcast-lighttpd"

uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/logcast'
	rm -rf '$(DESTDIR)$(LIBEXEC)' '$(DESTDIR)$(SHAREDIR)'
	for u in $(UNITS_SRC); do rm -f '$(DESTDIR)$(UNITDIR)/'$$(basename $$u); done
	rm -f '$(DESTDIR)$(SYSCONF)/lighttpd.conf' '$(DESTDIR)$(SYSCONF)/apache.conf'
	@echo "kept $(SYSCONF)/logcast.env and the data in /var/lib/logcast"

clean:
	rm -rf $(B) tests/results

# keep object files of programs (make would delete them as intermediates)
.SECONDARY:

-include $(wildcard $(B)/*/*.d $(B)/tests/unit/*.d)
