# The README's commands. Every target restores the .NET tools and the Paket packages
# first; NUGET_FEED (named in paket.dependencies and paket.lock) defaults to the first
# enabled NuGet source of this machine's dotnet configuration.
SHELL := /bin/bash
NUGET_FEED ?= $(shell dotnet nuget list source --format short 2>/dev/null | awk '$$1 == "E" { print $$2; exit }')
export NUGET_FEED
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

# Debian packages the tests and the demo use: ip netns and unshare for the scenes, the
# reference CNI plugins as delegates and IPAM, dnsmasq standing in for Spartan, dig.
# User-mode Linux (with kmod and ipvsadm) is the full kernel for the Minuteman lane when
# this kernel lacks dummy links or IPVS; python3 runs the dcos-net-like watcher; strace
# injects faults into single netlink requests of the real binary; dpkg-dev (dpkg-shlibdeps)
# and lintian build and check the Debian package; gcc and libc6-dev (glibc's libc.a) link
# the statically linked plugin.
TEST_PACKAGES := gcc libc6-dev iproute2 util-linux containernetworking-plugins dnsmasq-base bind9-dnsutils user-mode-linux kmod ipvsadm python3 strace hyperfine time golang-go golang-github-appc-cni-dev dpkg-dev lintian

CNI_BIN_DIR ?= /opt/cni/bin
VERSION := $(shell sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
DIST := dist/dcos-l4lb-v$(VERSION)-linux-amd64
DEB := dist/dcos-l4lb_$(VERSION)_amd64.deb

.PHONY: all build restore test demo aot-audit deps clean install dist deb pack fullkernel bench bench-floor bench-micro

all: build

restore:
	@test -n "$(NUGET_FEED)" || { echo "NUGET_FEED is unset and dotnet has no enabled NuGet source" >&2; exit 1; }
	dotnet tool restore
	dotnet paket restore

# The native plugin binary, published with Native AOT, and the operator's tool l4lbctl
# (a regular .NET program: Argu does not run under Native AOT).
build: restore
	dotnet publish src/Host -c Release -o out/host
	dotnet publish src/Ctl -c Release -o out/ctl
	mkdir -p bin
	# replaced by rename, so a copy that is running (ETXTBSY) does not stop the build
	cp out/host/dcos-l4lb bin/.dcos-l4lb.new && mv -f bin/.dcos-l4lb.new bin/dcos-l4lb
	ln -sfn ../out/ctl/l4lbctl bin/l4lbctl

# A NuGet package of the core, for programs that validate configs (docs/library.md).
pack: restore
	dotnet pack src/Core -c Release -o dist/nuget

deps:
	@missing=""; \
	for p in $(TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

test: deps build
	bash tests/run-all.sh

# The Minuteman lane alone: natively where the kernel has dummy and IPVS, else under
# User-mode Linux.
fullkernel: deps build
	bash tests/FullKernel/lane.sh

demo: deps build
	bash tests/demo.sh

# Republishes the plugin with trim/AOT warnings as warnings and fails on any, listing them.
aot-audit: restore
	bash tests/aot-audit.sh

# Where CNI runtimes look for plugins (override CNI_BIN_DIR, or DESTDIR for packaging).
install: build
	install -D -m 0755 bin/dcos-l4lb $(DESTDIR)$(CNI_BIN_DIR)/dcos-l4lb

# A release tarball as CNI plugin projects ship them: the binary, example configs,
# LICENSE and README.
dist: build
	rm -rf $(DIST) && mkdir -p $(DIST)/examples
	cp bin/dcos-l4lb LICENSE README.md $(DIST)/
	cp examples/*.conf examples/*.conflist $(DIST)/examples/
	tar -C dist -czf $(DIST).tgz $(notdir $(DIST))
	@echo "wrote $(DIST).tgz"

# The Debian package (packaging/debian, docs/operations.md#the-debian-package): the plugin
# in /usr/lib/cni, and l4lbctl published self-contained as one file (its own .NET runtime,
# not trimmed: Argu finds its arguments by reflection) so that it runs without .NET.
deb: build
	dotnet publish src/Ctl -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true \
	  -p:DebugType=none -p:IntermediateOutputPath=obj/deb/ -o out/deb/l4lbctl
	bash packaging/debian/build.sh $(VERSION) bin/dcos-l4lb out/deb/l4lbctl/l4lbctl $(DEB)

# Performance (docs/performance.md): the core's micro benchmarks (Core.start), then ADD+DEL
# cycles, VERSION latency and peak RSS against the reference plugins (needs root). The
# last lines are the figures of that one run against their targets.
bench: deps build
	dotnet run -c Release --project tests/Bench/Micro
	bash tests/Bench/bench.sh

# Floors of the two whole-process targets (docs/performance.md, "Floors"; needs root):
# builds the C programs and the minimal Native AOT responders (base and static) into
# out/bench-floor, then measures VERSION latency of bridge, dcos-l4lb, C and minimal AOT
# (FLOOR_RUNS runs per command, at normal and at SCHED_FIFO priority), the kernel's veth
# deletion and host-local alone (FLOOR_N repetitions). A few minutes at the defaults; the
# doc's figures used FLOOR_RUNS=300 FLOOR_N=50. Results: out/bench-floor/results.
FLOOR_RUNS ?= 100
FLOOR_N ?= 20
FLOOR_PACKAGES := gcc libc6-dev jq bc
bench-floor: deps build
	@$(MAKE) --no-print-directory deps TEST_PACKAGES="$(FLOOR_PACKAGES)"
	bash tests/Bench/floor/build.sh base static
	ONLY='^(bridge|dcos-l4lb|c-dyn|c-static|aot-base|aot-static)$$' bash tests/Bench/floor/version.sh $(FLOOR_RUNS)
	bash tests/Bench/floor/version-rt.sh $(FLOOR_RUNS)
	bash tests/Bench/floor/netns/veth.sh $(FLOOR_N)
	bash tests/Bench/floor/netns/hostlocal.sh $(FLOOR_N)

bench-micro: restore
	dotnet run -c Release --project tests/Bench/Micro

clean:
	rm -rf bin out dist src/*/bin src/*/obj tests/*/bin tests/*/obj
