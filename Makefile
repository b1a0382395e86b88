# vaelab: every target does its own set-up on a fresh Debian machine.
SWIFT      ?= swift
BIN        := .build/release/vaelab
APT_PKGS   := pkg-config libopenblas-dev libpng-dev libcairo2-dev zlib1g-dev fonts-dejavu-core dataset-fashion-mnist
SPECS      := $(filter-out experiments/smoke.json experiments/spec.schema.json,$(wildcard experiments/*.json))
JOBS       ?= $(shell nproc)

.PHONY: setup build test bench ablation report smoke clean

## setup: install the Debian packages (when missing) and Python's safetensors for the interop test
setup:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@python3 -c "import safetensors, numpy" 2>/dev/null || python3 -m pip install -q safetensors numpy 2>/dev/null \
	  || echo "note: Python safetensors unavailable; the interop test will be skipped"

## build: release build of the vaelab binary
build: setup
	$(SWIFT) build -c release --product vaelab

## test: the whole test suite (release build: numeric code is ~100x slower in debug)
test: setup
	$(SWIFT) build -c release --product vaelab
	OPENBLAS_NUM_THREADS=1 $(SWIFT) test -c release

## bench: one training step of each reference model vs the sgemm peak, 1 BLAS thread
bench: build
	$(BIN) bench

## ablation: every study in experiments/ except the smoke study; finished runs are skipped,
## interrupted ones resume, so running it again continues where it stopped
ablation: build
	$(BIN) run $(SPECS) --jobs $(JOBS)
	$(BIN) report --results results --out report

## report: REPORT.md and its figures from results/ alone (no training)
report: build
	$(BIN) report --results results --out report

## smoke: the one-minute study, into a scratch results directory
smoke: build
	$(BIN) run experiments/smoke.json --jobs $(JOBS) --results .build/smoke-results

clean:
	rm -rf .build
