# adminlog - see README.md. `make run`, `make test`, `make test SANITIZE=1`, `make bench`.
CC      ?= gcc
PKGS    := lmdb msgpack libsodium libxxhash liboath libcurl libevent libevent_pthreads
DEPS_OK := $(shell ./tools/deps.sh >&2 && echo ok)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wpedantic -Wstrict-prototypes -Wno-missing-field-initializers \
           -MMD -MP $(shell pkg-config --cflags $(PKGS))
# The layers (docs/architecture.md, tests/test_layers.sh): the library and the tests include
# "util/codec.h", "core/store.h", ... by layer; tools/ and bench/ see only the public include/.
INC_LIB := -Iinclude -Isrc -Ischemas
INC_PUB := -Iinclude
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lpthread -lm

ifeq ($(SANITIZE),1)
BUILD   := build/san
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BIN     := build/san/bin
else ifneq ($(findstring clang,$(CC)),)
# make CC=clang: its own build directory, so that neither compiler reuses the other's objects.
BUILD   := build/clang
BIN     := build/clang/bin
else
BUILD   := build/rel
BIN     := bin
endif

LIB_SRC := $(wildcard src/*/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB     := $(BUILD)/libadminlog.a
TOOLS   := $(BIN)/adminctl $(BIN)/adminlog $(BIN)/adminlogd
TEST_SRC := $(wildcard tests/test_*.c)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(filter-out bench/bench_util.c,$(wildcard bench/bench_*.c))
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

DATA    ?= var/adminlog

.PHONY: all test test-asan bench run clean docs install
# Keep object files: no "rm" line after the test summary, and faster rebuilds.
.SECONDARY:
all: $(TOOLS) $(BUILD)/gen_docs

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_LIB) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_LIB) -c $< -o $@

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_PUB) -c $< -o $@

$(BUILD)/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_PUB) -c $< -o $@

# Made afresh: ar only adds, and a moved or renamed source would leave its old member behind.
$(LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BIN)/%: $(BUILD)/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/gen_docs: $(BUILD)/tools/gen_docs.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/helpers.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(shell pkg-config --libs cmocka) -o $@

# Server tests also link the harness that starts adminlogd (tests/server_harness.h).
$(BUILD)/tests/test_server_%: $(BUILD)/tests/test_server_%.o $(BUILD)/tests/helpers.o $(BUILD)/tests/server_harness.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(shell pkg-config --libs cmocka) -o $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/bench/bench_util.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(shell pkg-config --libs sqlite3) -o $@

# docs/events.md is generated from schemas/; tests/test_docs.sh fails when it is stale.
docs: $(BUILD)/gen_docs
	$(BUILD)/gen_docs > docs/events.md

test: $(TOOLS) $(TESTS) $(BUILD)/gen_docs
	@BIN=$(BIN) BUILD=$(BUILD) ./tests/run.sh $(TESTS)

test-asan:
	$(MAKE) test SANITIZE=1

# Each program BENCH_RUNS times (default 3): the median of each result on stdout, the runs on
# stderr (tools/bench_runs.sh, docs/BENCHMARKS.md).
bench: $(BENCHES)
	@./tools/bench_runs.sh $(BENCHES)

# The server in the foreground on $(DATA) (bootstrapped when empty); tools/demo.sh tours the tools.
run: $(TOOLS)
	$(BIN)/adminlogd --data $(DATA)

install: $(TOOLS)
	install -d $(DESTDIR)/usr/local/bin
	install -m 755 $(TOOLS) $(DESTDIR)/usr/local/bin/

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
