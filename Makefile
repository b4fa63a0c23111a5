# flood harness. `make bench-flood` and `make test` are the two commands a
# newcomer needs; everything else here serves them.
GO ?= go
export GOFLAGS := -buildvcs=false

.PHONY: all build deps test test-e2e test-cgroup2 bench-seeds-node bench-seeds-datasette bench-seeds-ruby bench-seeds-python bench-containers bench-k6-scale vet staticcheck fuzz bench-serve bench-flood bench-admission report-check gate gate-baseline gate-check bench-client bench-seeds k6 test-k6 bench-failures bench-uploads bench-compression bench-http2 bench-requests bench-capacity bench-scale bench-soak bench-sampler bench-history clean

all: build

# Static (no cgo): no libc mappings in every target and client process.
build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/harness ./cmd/harness-serve ./cmd/harness-load

# Installs only what is missing (a no-op on a prepared machine), then tests:
# every package, the end-to-end tests that take seconds; the long stories
# are test-e2e's. The timeout is the suite's bound, well above its ~4 min
# here, so a hang fails loudly instead of at go test's default 10 min.
test: deps vet staticcheck
	$(GO) test -race -count=1 -timeout 15m ./...

# The long end-to-end stories (minutes each: the seed stacks, the soak,
# containers under podman and docker, failures resumed, the example
# workflows), in files tagged e2e (cmd/harness/*_e2e_test.go). CI runs
# them after make test.
E2E_TESTS = $(shell grep -ho '^func Test[A-Za-z0-9_]*' cmd/harness/*_e2e_test.go | sed 's/^func //' | paste -sd'|')
test-e2e: deps
	$(GO) test -race -count=1 -timeout 30m -tags e2e -run '^($(E2E_TESTS))$$' ./cmd/harness/

# The memory cap on a real cgroup v2 kernel, booted in qemu (~50 s): root
# sharing its cgroup, root alone in one, a user in a delegated one, the
# watchdog fallback, a systemd scope per target, and a harness killed
# mid-flood (scripts/cgroup2-vm.sh).
test-cgroup2:
	@bash scripts/install-deps.sh qemu-system-x86 linux-image-amd64 busybox-static
	FLOOD_CGROUP2_VM=1 $(GO) test -count=1 -run '^TestCgroupV2VM$$' -v ./cmd/harness/

deps:
	@bash scripts/install-deps.sh

# -tags e2e: the long stories' files are checked too.
vet:
	@out=$$($$($(GO) env GOROOT)/bin/gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt'd (gofmt -w them):"; echo "$$out"; exit 1; fi
	$(GO) vet -tags e2e ./...

staticcheck:
	$(GO) tool staticcheck -tags e2e ./...

# Every fuzz target (found by name in the tests) for a short while;
# FUZZTIME=5m for a longer hunt. Minimising a new input is capped too, or
# one slow minimisation can eat a short run.
FUZZTIME ?= 20s
FUZZMIN ?= 5s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for fz in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "== $$pkg $$fz"; \
			$(GO) test -run '^$$' -fuzz "^$$fz\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) $$pkg; \
		done; \
	done

# The reference servers' own benchmark: encoder cost per row, then the peak
# RSS (VmHWM) of one fresh server process per impl and concurrency level.
bench-serve:
	@echo "== encoders: ns/row, B/op, allocs/op (1000 rows of width 64 per op)"
	@$(GO) test -run '^$$' -bench Encode -benchmem ./targets/ | awk -f scripts/benchtable.awk -v metrics=ns/row,B/op,allocs/op
	@echo
	@echo "== peak RSS (VmHWM) of one server process after c concurrent ~8 MB downloads, MiB (max of 3 floods)"
	@$(GO) test -run '^$$' -bench ServePeakRSS -benchtime 3x ./cmd/harness/ | awk -f scripts/benchtable.awk -v metrics=peak-rss-MiB -v pivot=c

# The main job: flood.yaml (buffered vs streamed vs batched, levels 1..64,
# 1 GiB cap) on the built-in Go targets; prints peak RSS per target × level
# and leaves results.json, logs, RSS series and heap profiles in reports/.
bench-flood: build
	bin/harness run scenarios/flood.yaml

# The upload story: 1, 16 and 64 concurrent slow 8 MiB uploads (PUT
# /upload, answers checked by hash) under 512 MiB, buffered vs streamed.
bench-uploads: build
	bin/harness run scenarios/uploads.yaml

# What compression costs the server: slow readers asking for gzip, br or
# zstd at 1/16/64 downloads, buffered (the body compressed whole) against
# streamed (a compressor per response), none beside them
# (scenarios/compression.yaml, ~5 min).
bench-compression: build
	bin/harness run scenarios/compression.yaml

# HTTP/1.1 against cleartext HTTP/2 (h2c) for the same slow readers of
# streamed and batched exports: the server's peak, and the client's.
bench-http2: build
	@for h in 1.1 h2c; do echo "== --http $$h"; bin/harness run --http $$h scenarios/http2.yaml 2>/dev/null | sed -n '2,4p'; done

# What a request body costs the client: GET against POST, and uploads to a
# discarding server (scripts/bench-requests.sh).
bench-requests: build
	bash scripts/bench-requests.sh

# The number people ask for: how many concurrent downloads each reference
# server serves completely under flood.yaml's 1 GiB cap, searched and
# confirmed (docs/capacity.md).
bench-capacity: deps build
	bin/harness capacity --max 128 --repeats 2 --budget 10m scenarios/flood.yaml
	bin/harness capacity --max 64 --repeats 2 --budget 15m scenarios/capacity.yaml

# Does it leak? The clean streamed server in 10 soaks of 60 s (flat in
# every one wanted), then the leak knob, the buffered sawtooth and a
# Python server without and with a response cache, once each (~15 min).
bench-soak: build
	bin/harness run --out reports/bench-soak-clean --repeats 10 --targets streamed scenarios/soak.yaml
	bin/harness run --out reports/bench-soak --targets leaky,buffered,py-clean,py-cache scenarios/soak.yaml

# What sampling a 100-process tree every 20 ms costs the harness, in % of
# a core: without a cgroup (the PSS path) and in one.
bench-sampler:
	FLOOD_BENCH=1 $(GO) test -count=1 -run TestSamplerOverhead -v ./internal/sample ./internal/launch | grep -E '^sampler:|FAIL|ok'

# Thousands of slow readers on one host: what one connection costs the
# target and the harness (scenarios/scale.yaml). 30,000 needs more files
# than one process may open here: the harness refuses that level, with the
# number; two client processes against two server processes on one port
# (scripts/bench-scale-30k.sh) open them.
bench-scale: build
	bin/harness run --out reports/bench-scale scenarios/scale.yaml
	bin/harness run --out reports/bench-scale-refused --levels 30000 --targets streamed scenarios/scale.yaml || true
	bash scripts/bench-scale-30k.sh
	SERVER="--admission held --budget 256MiB" OUT=reports/bench-scale-30000-held bash scripts/bench-scale-30k.sh

# Render a fresh quick.yaml report and look at it in headless Chromium: the
# screenshot lands in reports/report-check/screenshot.png.
report-check: deps build
	bin/harness run --out reports/report-check scenarios/quick.yaml
	REPORT_HTML=$(CURDIR)/reports/report-check/report.html REPORT_PNG=$(CURDIR)/reports/report-check/screenshot.png \
		$(GO) test -count=1 -run '^TestScreenshot$$' -v ./internal/report/
	@echo "screenshot: reports/report-check/screenshot.png"

# The project's own regression gate (CI runs it after the tests): quick.yaml
# judged against reports/baseline/results.json.
gate: build
	bash scripts/gate.sh

# The history's change-point defaults, measured: quick.yaml FLOOD_RUNS
# times (30) unchanged, each gated with --history (~9 min here).
bench-history: build
	bash scripts/bench-history.sh

# Refresh the committed baseline from a fresh quick.yaml run on this machine.
gate-baseline: build
	bin/harness run --out reports/gate-baseline scenarios/quick.yaml
	bin/harness gate --current reports/gate-baseline/results.json --rules scenarios/quick.yaml --update-baseline

# The gate's fidelity: 10 unchanged runs (false alarms) and one planted regression.
gate-check: build
	bash scripts/gate-check.sh

# The load client against wrk and hey (installs them from Debian if missing).
bench-client: build
	@bash scripts/install-deps.sh wrk hey time bc nginx curl
	bash scripts/bench-client.sh

# The export seed in Node/Express: res.json vs a stream with backpressure.
bench-seeds-node: build
	@bash scripts/install-deps.sh
	bin/harness run scenarios/seeds-node.yaml

# The export seed shaped like Datasette's CSV export, over a SQLite fixture.
bench-seeds-datasette: build
	@bash scripts/install-deps.sh
	bin/harness fixtures sqlite --rows 20000 --width 1000 --out fixtures/rows.db
	bin/harness run scenarios/seeds-datasette.yaml

# The export seed in Ruby: Rack under Puma, render json vs an Enumerator body.
bench-seeds-ruby: build
	@bash scripts/install-deps.sh
	bin/harness run scenarios/seeds-ruby.yaml

# The seed failures in Python (installs the Debian packages if missing).
bench-seeds-python: deps build
	bin/harness run scenarios/seeds-python.yaml

# Every seed stack, one after the other (24m30s here with heap: auto's repeats): Python, Node/Express, the
# Datasette-shaped export, Rack under Puma.
bench-seeds: bench-seeds-python bench-seeds-node bench-seeds-datasette bench-seeds-ruby

# The reference servers as containers under a 256 MiB container limit: the
# image is built offline (scripts/container-image.sh: a static harness-serve
# imported with podman import), then scenarios/containers.yaml runs it.
bench-containers: deps build
	bash scripts/container-image.sh
	bin/harness run scenarios/containers.yaml

# One k6 against three local k6 instances merged exactly (k6's output
# "flood"): the target-side peak and the merged latency side by side.
bench-k6-scale: build k6
	bash scripts/bench-k6-scale.sh

# k6 with the k6/x/flood extension (bin/k6), and its tests (unit tests with
# k6's module test runtime; the example script against real servers).
k6:
	bash scripts/build-k6.sh

test-k6: k6
	cd xk6 && $(GO) vet ./... && $$(cd .. && $(GO) tool -n staticcheck) ./... && $(GO) test -race -count=1 ./...

# Failures mid-stream against a SQLite export, with resuming clients.
bench-failures: build
	bin/harness fixtures sqlite --rows 20000 --width 256 --out fixtures/failures.db
	bin/harness run scenarios/failures.yaml
	bin/harness run scenarios/restart.yaml

# The reservation bug: early-release vs held vs reject under a 512 MiB cap.
bench-admission: build
	bin/harness run scenarios/admission.yaml

clean:
	rm -rf bin
