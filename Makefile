# vcbench — two commands on a fresh Debian 12 machine, as root:
#   make run    set everything up and run the default scenario to a report
#   make test   set everything up and run all tests
SHELL := /bin/bash
GO ?= go
BIN := bin
IMAGE_DIR ?= $(CURDIR)/build/images
# The small guest kernel (vm/smallkernel_test.go boots it; scenarios ask
# for it with `kernel: small`) goes to IMAGE_DIR/guest-small, beside the
# cloud kernel's guest, and its build is cached under IMAGE_DIR/cache.
SMALL_KERNEL_DIR ?= $(IMAGE_DIR)
SCENARIO ?= quick
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.gitRevision=$(REVISION)
APT_PACKAGES := qemu-system-x86 qemu-utils crun runc runsc busybox-static iproute2 docker.io podman \
	prometheus prometheus-pushgateway chromium fonts-nanum ca-certificates \
	linux-source-6.1 build-essential bc bison flex libelf-dev xz-utils \
	debootstrap e2fsprogs
# The tools' host packages are not needed: every runtime, native included,
# runs the tools from the tools image (chroot), so that versions match.
# `make deps-host-tools` installs them for runs by hand (apt starts
# redis-server and mariadb as services).
HOST_TOOL_PACKAGES := fio iperf3 sockperf sysbench stress-ng redis-server \
	redis-tools hpcc mariadb-server
# Tests find the binaries and images here.
export VCBENCH_IMAGE_DIR := $(IMAGE_DIR)
export VCBENCH_BIN := $(CURDIR)/$(BIN)

.PHONY: all deps deps-host-tools build images tools-image small-kernel run test unit fuzz clean

all: build

# Install what is missing (apt only; Go modules come from the module proxy).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install:$$missing" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

deps-host-tools:
	$(MAKE) deps APT_PACKAGES="$(HOST_TOOL_PACKAGES)"

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/vcbench ./cmd/vcbench
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -trimpath -o $(BIN)/vcbench-agent ./cmd/vcbench-agent
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -trimpath -o $(BIN)/vcbench-init ./cmd/vcbench-init

images: deps build
	$(BIN)/vcbench images build --image-dir $(IMAGE_DIR) --agent $(BIN)/vcbench-agent

# The tools image (Debian bookworm by debootstrap, with fio, sysbench,
# stress-ng, ...): about 75 s and 1.6 GB the first time, cached by its
# inputs after that. make test needs it; make run does not.
tools-image: deps build
	$(BIN)/vcbench images build --tools --image-dir $(IMAGE_DIR) --agent $(BIN)/vcbench-agent

# The small kernel takes about four minutes on two cores the first time;
# later calls find it cached under $(SMALL_KERNEL_DIR)/cache/kernel-small
# (keyed by linux-source version, config and build format) and take
# seconds. Finished kernels are also kept in $(KERNEL_CACHE), outside the
# checkout, so that a fresh clone on the same machine (CI) pays only once.
KERNEL_CACHE ?= /var/cache/vcbench/kernel-small
small-kernel: deps build
	@if [ -d "$(KERNEL_CACHE)" ]; then mkdir -p $(SMALL_KERNEL_DIR)/cache/kernel-small && cp -an $(KERNEL_CACHE)/. $(SMALL_KERNEL_DIR)/cache/kernel-small/; fi
	$(BIN)/vcbench images build --kernel small --image-dir $(SMALL_KERNEL_DIR) --agent $(BIN)/vcbench-agent
	@if mkdir -p $(KERNEL_CACHE) 2>/dev/null; then cp -an $(SMALL_KERNEL_DIR)/cache/kernel-small/. $(KERNEL_CACHE)/; fi

run: images
	$(BIN)/vcbench run $(SCENARIO) --image-dir $(IMAGE_DIR)

# One package at a time (-p 1): the timing and density tests measure the
# host, and the vm, container and Prometheus tests of another package
# running beside them would move their figures. VCBENCH_REQUIRE=1: on a
# machine that `deps` prepared, a test whose prerequisite is missing
# (root, QEMU, crun, chromium, Prometheus, the images, the small kernel)
# fails instead of skipping.
test: images tools-image small-kernel
	$(GO) vet ./...
	VCBENCH_REQUIRE=1 VCBENCH_SMALL_KERNEL_DIR=$(SMALL_KERNEL_DIR) $(GO) test -count=1 -p 1 -timeout 30m ./...
	$(MAKE) fuzz

# Each fuzz target for FUZZTIME, one after another (-fuzz takes one target
# per package run, and each run uses every core). A count of executions,
# not a duration: Go 1.26's coordinator can fail a target with a bare
# "context deadline exceeded" when a -fuzztime duration ends while a worker
# is mid-call (go.dev/issue/75804, fixed in 1.27); a count sets no
# deadline. 20000 runs take 2-6 s a target on two cores.
FUZZTIME ?= 20000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./metrics/
	$(GO) test -run '^$$' -fuzz '^FuzzReadSamples$$' -fuzztime $(FUZZTIME) ./bench/
	$(GO) test -run '^$$' -fuzz '^FuzzReadRun$$' -fuzztime $(FUZZTIME) ./bench/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeView$$' -fuzztime $(FUZZTIME) ./report/
	$(GO) test -run '^$$' -fuzz '^FuzzVmlinux$$' -fuzztime $(FUZZTIME) ./image/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./scenarios/
	$(GO) test -run '^$$' -fuzz '^FuzzParseKernelParams$$' -fuzztime $(FUZZTIME) ./agent/proto/
	$(GO) test -run '^$$' -fuzz '^FuzzParseMemoryStat$$' -fuzztime $(FUZZTIME) ./metrics/
	$(GO) test -run '^$$' -fuzz '^FuzzParseFio$$' -fuzztime $(FUZZTIME) ./workload/tools/
	$(GO) test -run '^$$' -fuzz '^FuzzParseSysbench$$' -fuzztime $(FUZZTIME) ./workload/tools/
	$(GO) test -run '^$$' -fuzz '^FuzzParseSysbenchOLTP$$' -fuzztime $(FUZZTIME) ./workload/tools/
	$(GO) test -run '^$$' -fuzz '^FuzzParseStressNG$$' -fuzztime $(FUZZTIME) ./workload/tools/
	$(GO) test -run '^$$' -fuzz '^FuzzParseIperf3$$' -fuzztime $(FUZZTIME) ./workload/tools/
	$(GO) test -run '^$$' -fuzz '^FuzzParseIperf3UDP$$' -fuzztime $(FUZZTIME) ./workload/tools/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRedisBenchmark$$' -fuzztime $(FUZZTIME) ./workload/tools/
	$(GO) test -run '^$$' -fuzz '^FuzzParseHPCC$$' -fuzztime $(FUZZTIME) ./workload/tools/
	$(GO) test -run '^$$' -fuzz '^FuzzParseSockperf$$' -fuzztime $(FUZZTIME) ./workload/tools/
	$(GO) test -run '^$$' -fuzz '^FuzzParseVMMMemory$$' -fuzztime $(FUZZTIME) ./vm/

# Tests that need neither root nor images.
unit:
	$(GO) test -count=1 -short ./...

clean:
	rm -rf $(BIN) build
