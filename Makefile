# darkscope — build, test, demo. Root is needed for deps, tests and the demo
# (network namespaces, nftables, NFLOG).
SHELL := /bin/bash
GO    ?= go
BIN   := bin/darkscope
# Debian packages the tests and the demo use.
DEB_PKGS := nftables iptables ipset iproute2 tcpdump tshark hping3 nmap masscan zmap ulogd2 ulogd2-json \
            psad p0f fwlogwatch bsdutils gzip procps python3 python3-paramiko curl time iputils-ping \
            netcat-openbsd openssh-client openssh-server sshpass hydra medusa \
            python3-aiosmtpd dnsmasq-base

.PHONY: all build deps test test-unit test-root demo bench fmt vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/darkscope

# Install the Debian packages that are missing (idempotent, quiet when all are there).
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@sysctl -qw net.netfilter.nf_log_all_netns=1 2>/dev/null || modprobe nf_log_syslog 2>/dev/null; sysctl -qw net.netfilter.nf_log_all_netns=1

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l cmd internal test bench 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# The whole suite: unit, fuzz seeds, golden files, root integration tests in
# their own network namespaces, end-to-end tests of the built binary.
# Root suites share the kernel (kmsg, nflog groups): -p 1.
test: deps vet
	$(GO) test -count=1 -p 1 -timeout 25m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/...

# Build, then capture a real scan in throw-away namespaces and report on it.
demo: deps build
	./scripts/demo.sh

fmt:
	gofmt -w cmd internal test bench

clean:
	rm -rf bin
