# vcbench — two commands on a fresh Debian 12 machine, as root:
#   make run    set everything up and run the default scenario to a report
#   make test   set everything up and run all tests
SHELL := /bin/bash
GO ?= go
BIN := bin
IMAGE_DIR ?= $(CURDIR)/build/images
SCENARIO ?= quick
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.gitRevision=$(REVISION)
APT_PACKAGES := qemu-system-x86 qemu-utils crun runc busybox-static iproute2 \
	prometheus prometheus-pushgateway chromium ca-certificates \
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

.PHONY: all deps deps-host-tools build images run test unit clean

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

images: deps build
	$(BIN)/vcbench images build --tools --image-dir $(IMAGE_DIR) --agent $(BIN)/vcbench-agent

run: images
	$(BIN)/vcbench run $(SCENARIO) --image-dir $(IMAGE_DIR)

# One package at a time (-p 1): the density test compares per-instance
# memory with the host's global counters, and the vm, container and
# Prometheus tests of another package running beside it would move them.
test: images
	$(GO) vet ./...
	$(GO) test -count=1 -p 1 -timeout 30m ./...

# Tests that need neither root nor images.
unit:
	$(GO) test -count=1 -short ./...

clean:
	rm -rf $(BIN) build
