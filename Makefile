# engagementd - build, test and run.
#
#   make            release build: build/release/engagementd
#   make run        local PostgreSQL under .local/ + the service on :8080
#   make check      everything CI runs: format, -Werror builds, unit and
#                   integration tests, the sanitizer build's tests, and
#                   each fuzz harness for 10 s
#   make asan       AddressSanitizer + UndefinedBehaviorSanitizer build
#   make valgrind   integration tests under valgrind
#   make bench      performance benchmark (bench/README.md)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKGS := libmicrohttpd jansson libpq inih libcrypto
TEST_PKGS := check libcurl

WARN := -std=c11 -Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes \
	-Wold-style-definition -Wpointer-arith -Wshadow -Wformat=2 -Wundef \
	-Wdeclaration-after-statement -Wno-missing-field-initializers
WERROR ?= -Werror
BASE_CFLAGS := $(WARN) $(WERROR) -D_GNU_SOURCE -Iinclude -MMD -MP \
	$(shell pkg-config --cflags $(PKGS))
LIBS := $(shell pkg-config --libs $(PKGS)) -lpthread -lm
TEST_CFLAGS := $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

VARIANT ?= release
ifeq ($(VARIANT),asan)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
  LDOPT := -fsanitize=address,undefined
else ifeq ($(VARIANT),debug)
  OPT := -O0 -g
  LDOPT :=
else
  OPT := -O2 -g
  LDOPT :=
endif

B := build/$(VARIANT)
LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/gen/migrations.o
SQL_FILES := $(sort $(wildcard sql/*.sql))
UNIT_SRC := $(sort $(wildcard tests/unit/check_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
ITEST_SRC := $(sort $(wildcard tests/integration/check_*.c))
ITEST_BIN := $(ITEST_SRC:tests/integration/%.c=$(B)/tests/%)
ITEST_LIB := $(B)/tests/harness.o
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all run check check-build unit integration asan valgrind clean \
	install uninstall format format-check deps bench bench-model \
	migrate fuzz fuzz-build fuzz-smoke

all: $(B)/engagementd

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) -c $< -o $@

# Migrations are compiled into the binary (scripts/embed-sql.sh).
$(B)/gen/migrations.c: $(SQL_FILES) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	scripts/embed-sql.sh $@ $(SQL_FILES)

$(B)/gen/migrations.o: $(B)/gen/migrations.c
	$(CC) $(BASE_CFLAGS) $(OPT) -c $< -o $@

$(B)/libengagementd.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/engagementd: $(B)/src/main.o $(B)/libengagementd.a
	$(CC) $(LDOPT) -o $@ $^ $(LIBS)

$(B)/tests/check_%: tests/unit/check_%.c $(B)/libengagementd.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TEST_CFLAGS) $(OPT) $(LDOPT) -o $@ $< \
		$(B)/libengagementd.a $(TEST_LIBS) $(LIBS)

$(B)/tests/harness.o: tests/integration/harness.c tests/integration/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TEST_CFLAGS) $(OPT) -c $< -o $@

$(B)/tests/check_%: tests/integration/check_%.c $(ITEST_LIB) \
		tests/integration/harness.h $(B)/libengagementd.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TEST_CFLAGS) $(OPT) $(LDOPT) -o $@ $< \
		$(ITEST_LIB) $(B)/libengagementd.a $(TEST_LIBS) $(LIBS)

$(B)/bench/%: bench/%.c $(B)/libengagementd.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) $(LDOPT) -o $@ $< \
		$(B)/libengagementd.a $(LIBS)

# libFuzzer harnesses (docs/fuzzing.md), built with clang apart from the
# variants: the parsers only, no store/ or api/, so no database and no
# generated migrations.  `make fuzz` runs each for FUZZ_SECONDS.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OPT := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_LIB_SRC := $(sort $(wildcard src/core/*.c src/senders/*.c)) \
	src/ingest/event.c src/ingest/native.c src/ingest/verdict.c \
	src/http/route.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=build/fuzz/%.o)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,\
	$(sort $(wildcard tests/fuzz/fuzz_*.c)))

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(WARN) -D_GNU_SOURCE -Iinclude -MMD -MP \
		$(shell pkg-config --cflags $(PKGS)) $(FUZZ_OPT) \
		-fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libfuzzparsers.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_check.h \
		build/fuzz/libfuzzparsers.a
	$(FUZZ_CC) $(WARN) -D_GNU_SOURCE -Iinclude \
		$(shell pkg-config --cflags $(PKGS)) $(FUZZ_OPT) \
		-fsanitize=fuzzer -o $@ $< build/fuzz/libfuzzparsers.a $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@scripts/fuzz.sh run $(FUZZ_SECONDS)

FUZZ_SMOKE_SECONDS ?= 10
fuzz-smoke: fuzz-build
	@scripts/fuzz.sh run $(FUZZ_SMOKE_SECONDS)

# Installs what is missing on a fresh Debian machine (needs root or sudo).
deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-local.sh $(B)/engagementd

migrate: all
	$(B)/engagementd migrate

# Builds the unit and integration test programs of one variant.
check-build: $(B)/engagementd $(UNIT_BIN) $(ITEST_BIN)

unit: check-build
	@scripts/run-unit.sh $(UNIT_BIN)

integration: check-build
	@scripts/test-integration.sh $(B) $(ITEST_BIN)

# Test programs make check runs (any failure stops it before the summary).
CHECK_PROGRAMS = $(shell echo $$(( 2 * ($(words $(UNIT_SRC)) + \
	$(words $(ITEST_SRC))) + $(words $(wildcard tests/fuzz/fuzz_*.c)) )))

# Everything CI runs: formatting, the -Werror release build's suites, the
# same under AddressSanitizer + UBSan, and every fuzz harness briefly.
check:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory VARIANT=release unit integration
	@$(MAKE) --no-print-directory VARIANT=asan unit integration
	@$(MAKE) --no-print-directory fuzz-smoke FUZZ_SMOKE_SECONDS=10
	@echo "make check: all suites passed"
	@echo "check: $(CHECK_PROGRAMS) passed, 0 failed"

asan:
	@$(MAKE) --no-print-directory VARIANT=asan check-build

valgrind: deps
	@scripts/deps.sh valgrind
	@$(MAKE) --no-print-directory VARIANT=debug check-build
	@ENGAGEMENTD_TEST_WRAPPER="valgrind --leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite -q" \
		scripts/test-integration.sh build/debug $(patsubst build/release/%,build/debug/%,$(ITEST_BIN))

bench: deps
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory VARIANT=release all $(BENCH_BIN)
	@bench/run.sh

bench-model:
	@$(MAKE) --no-print-directory VARIANT=release build/release/bench/model_sim
	@build/release/bench/model_sim

FORMAT_FILES = $(shell git ls-files 'src/*.[ch]' 'include/*.h' \
	'tests/*.[ch]' 'bench/*.c' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@scripts/format-check.sh $(FORMAT_FILES)

install: $(B)/engagementd
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/engagementd/sql
	install -m 0755 $(B)/engagementd $(DESTDIR)$(PREFIX)/bin/engagementd
	install -m 0644 sql/*.sql $(DESTDIR)$(PREFIX)/share/engagementd/sql/
	install -m 0644 config.example.ini \
		$(DESTDIR)$(PREFIX)/share/engagementd/config.example.ini

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/engagementd
	rm -rf $(DESTDIR)$(PREFIX)/share/engagementd

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(B)/src/main.d $(FUZZ_LIB_OBJ:.o=.d)
