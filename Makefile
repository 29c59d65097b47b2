# The user-facing commands. Each installs what is missing first (scripts/install-deps).
# make          release build            make test    install, build, run every test
# make demo     build and run the demo   make bench   side-by-side benchmarks
# make fuzz     run the fuzzers a while  make format  clang-format the tree
# make clean    remove build/

PRESET      ?= release
BUILD_DIR   := build/$(PRESET)
JOBS        ?= 2
FUZZ_SECONDS ?= 60
CTEST_ARGS  ?=

SOURCES = $(shell git ls-files '*.cc' '*.h' 2>/dev/null)

.PHONY: all build deps configure test demo bench fuzz format format-check clean

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja:
	cmake --preset $(PRESET)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error -j $(JOBS) $(CTEST_ARGS)

demo: build
	$(BUILD_DIR)/src/app/tandem demo

bench: build
	bench/run $(BUILD_DIR)

fuzz: deps
	cmake --preset fuzz
	cmake --build build/fuzz -j $(JOBS)
	scripts/run-fuzzers build/fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run -Werror $(SOURCES)

clean:
	rm -rf build
