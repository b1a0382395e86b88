# vaelab: every target does its own set-up on a fresh Debian machine.
SWIFT      ?= swift
BIN        := .build/release/vaelab
APT_PKGS   := pkg-config libopenblas-dev libpng-dev libcairo2-dev zlib1g-dev fonts-dejavu-core dataset-fashion-mnist
# A real one-node Slurm for the `vaelab slurm` tests (started by the tests themselves).
SLURM_PKGS := slurmctld slurmd slurm-client munge
# The reference study first, then every other spec (a new one is picked up with no change here).
SPECS      := experiments/reference.json $(filter-out experiments/reference.json experiments/smoke.json experiments/spec.schema.json,$(wildcard experiments/*.json))
JOBS       ?= $(shell nproc)
TORCH      := $(shell grep '^torch==' bench/requirements-torch.txt)

.PHONY: setup build test fmt fmt-check kernels-check bench bench-avx2 bench-compare ablation report export proto smoke clean fuzz
FORMATTED  := Sources Tests Package.swift Fuzz/Sources Fuzz/Package.swift

## setup: install the Debian packages (when missing; Slurm for its tests), Python's safetensors for the interop test,
## jsonschema for the schema test, Python-Markdown for the report-escaping test, pandas, TensorBoard and DVC for the
## export tests and PyTorch (CPU) for the golden test, which fail without them
setup:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@missing=""; for p in $(SLURM_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@python3 -c "import safetensors, numpy" 2>/dev/null || python3 -m pip install -q safetensors numpy 2>/dev/null \
	  || echo "note: Python safetensors unavailable; the interop test will be skipped"
	@python3 -c "import jsonschema, markdown" 2>/dev/null || python3 -m pip install -q jsonschema markdown \
	  || echo "error: jsonschema or markdown did not install; the schema and report-escaping tests will fail"
	@python3 -c "import pandas, tensorboard, dvc" 2>/dev/null || python3 -m pip install -q pandas tensorboard dvc \
	  || echo "error: pandas, tensorboard or dvc did not install; the export tests will be skipped (fail under CI)"
	@python3 -c "import torch, safetensors" 2>/dev/null || python3 -m pip install -q "$(TORCH)" safetensors \
	  || echo "error: $(TORCH) did not install (bench/requirements-torch.txt says where the wheel comes from); the golden test will fail"

## build: release build of the vaelab binary
build: setup
	$(SWIFT) build -c release --product vaelab

## test: the format check, the kernels check (after the build), then the whole test suite (release build: numeric code is ~100x slower in debug)
test: setup fmt-check kernels-check
	OPENBLAS_NUM_THREADS=1 $(SWIFT) test -c release

## fmt: format every Swift file in place with swift-format (.swift-format holds the style)
fmt:
	$(SWIFT) format format --in-place --recursive --parallel $(FORMATTED)

## fmt-check: fail, naming file and line, where a Swift file is not as `make fmt` leaves it
fmt-check:
	$(SWIFT) format lint --strict --recursive --parallel $(FORMATTED)

## kernels-check: fail where a static helper of a target-cloned kernel (NNKernels, VL_CLONES) was
## compiled out of line: that copy is built for baseline x86-64 only (SSE2), and every clone calls it.
## nn_gemm.c is exempt: its helpers carry their own AVX-512 target. Builds first (make build).
kernels-check: build
	@dir=$$($(SWIFT) build -c release --show-bin-path)/NNKernels.build; status=0; checked=0; \
	for o in $$dir/nn_*.c.o; do \
	  case $$o in */nn_gemm.c.o) continue;; esac; \
	  [ -f $$o ] || continue; checked=$$((checked + 1)); \
	  for f in $$(nm --defined-only $$o | awk '$$2 == "t" { print $$3 }'); do \
	    echo "error: $$(basename $$o .o): $$f was compiled out of line, for baseline x86-64 only; declare it VL_INLINE"; status=1; \
	  done; \
	done; \
	if [ $$checked = 0 ]; then echo "error: kernels-check: no NNKernels objects (nn_*.c.o) in $$dir"; exit 1; fi; \
	[ $$status = 0 ] && echo "kernels-check: $$checked objects, no helper of a cloned kernel compiled out of line"; exit $$status

## bench: one training step of each reference model vs the sgemm peak, 1 BLAS thread
bench: build
	$(BIN) bench

## bench-avx2: `make bench` on the code path of a machine without AVX-512, run on this one: vaelab's
## kernels built without their AVX-512 clones (VL_AVX2_ONLY, in .build/avx2) and OpenBLAS on its
## Haswell (AVX2) kernel. The same code as on an AVX2 machine, at this core's speeds.
bench-avx2: setup
	$(SWIFT) build -c release --product vaelab --build-path .build/avx2 -Xcc -DVL_AVX2_ONLY
	OPENBLAS_CORETYPE=Haswell .build/avx2/release/vaelab bench

## bench-compare: vaelab vs Keras 3 / TensorFlow-CPU vs PyTorch-CPU on this CPU, side by
## side (bench/README.md); creates .venv-bench-tf and .venv-bench-torch when missing (and
## reinstalls when bench/requirements-*.txt change). BENCH_ARGS=--quick for a smoke check.
BENCH_ARGS ?=
bench-compare: build .venv-bench-torch/.installed .venv-bench-tf/.installed
	python3 bench/compare.py $(BENCH_ARGS)

.venv-bench-torch/.installed: bench/requirements-torch.txt
	test -x .venv-bench-torch/bin/python || python3 -m venv .venv-bench-torch
	.venv-bench-torch/bin/pip install -r bench/requirements-torch.txt
	touch $@

.venv-bench-tf/.installed: bench/requirements-tf.txt
	test -x .venv-bench-tf/bin/python || python3 -m venv .venv-bench-tf
	.venv-bench-tf/bin/pip install -r bench/requirements-tf.txt
	touch $@

## ablation: every study in experiments/ except the smoke study, then the report (also when a run
## failed; the exit status is vaelab run's); finished runs are skipped, interrupted ones resume,
## so running it again continues where it stopped
ablation: build
	@status=0; $(BIN) run $(SPECS) --jobs $(JOBS) || status=$$?; \
	$(BIN) report --results results --out report && exit $$status

## report: REPORT.md and its figures from results/ alone (no training)
report: build
	$(BIN) report --results results --out report

## export: export/ from results/ alone: long CSV and JSON Lines (pandas), TensorBoard event files, dvc.yaml
export: build
	$(BIN) export --results results --out export

## proto: regenerate Sources/Export/TensorBoardProto.pb.swift (needs protoc and swift-protobuf's protoc-gen-swift
## on PATH; the generated file is committed, so builds need neither)
proto:
	cd Sources/Export && protoc --swift_out=. --swift_opt=Visibility=Public tensorboard.proto \
	  && mv tensorboard.pb.swift TensorBoardProto.pb.swift

## smoke: the one-minute study, into a scratch results directory
smoke: build
	$(BIN) run experiments/smoke.json --jobs $(JOBS) --results .build/smoke-results

## fuzz: coverage-guided libFuzzer run (ASan) of every parser of outside input, FUZZ_SECONDS per
## target; prints executions and crashes per target (Fuzz/run.sh; crash inputs in Fuzz/.work/artifacts)
FUZZ_SECONDS ?= 60
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) bash Fuzz/run.sh

clean:
	rm -rf .build
