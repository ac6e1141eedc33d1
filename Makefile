# Two commands on a fresh machine: `make preview` and `make test`. Each creates .venv on first run.
# `make` alone is `make help`: every target with its one-line `## ` description.
.DEFAULT_GOAL := help
STACK ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help preview preview-all test policy policy-venv diff diff-args diff-rev new-env verify bench schema clean lock

# From the locks only (exact versions, every file's hash checked): uv first, by pip, then the
# whole dev lock by uv, which leaves .venv holding exactly it (`uv pip sync`). Silent, and on
# stderr: `make diff-rev FORMAT=--json > f.json` on a fresh runner writes the report alone.
# Every target with its `## ` description, in the Makefile's order; needs nothing installed.
help:  ## this list (also what `make` alone prints)
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  make %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements-dev.txt requirements-uv.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "error: needs Python >= 3.11 ($(PYTHON) is $$($(PYTHON) -V 2>&1)): make PYTHON=python3.11 ..." >&2; exit 2; }
	@echo "creating $(VENV) from requirements-dev.txt (first run)" >&2
	@$(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-uv.txt >&2
	@$(VENV)/bin/uv pip sync --quiet --compile-bytecode --python $(PY) --require-hashes requirements-dev.txt >&2
	@touch $@

# The provided-certificate example previews with a throwaway pair made in memory.
PREVIEW_FLAGS_provided := --demo-certificate

preview: $(VENV)/.installed  ## offline preview of one stack: make preview STACK=uat
	$(PY) -m preview $(STACK) $(PREVIEW_FLAGS_$(STACK))

# Each stack gets its PREVIEW_FLAGS_<stack>, as make preview gives it (flags of a stack not in DIR are ignored).
preview-all: $(VENV)/.installed  ## every stack of a folder previewed and policy-checked in one process -> build/summary.md: make preview-all [DIR=examples/mutual]
	$(PY) -m preview.fleet $(if $(DIR),--project-dir $(DIR)) $(foreach flags,$(filter PREVIEW_FLAGS_%,$(.VARIABLES)),--stack-flags '$(flags:PREVIEW_FLAGS_%=%)=$($(flags))')

# GitHub's own workflow-expression library for tests/expressions.py, from its lock (npm ci).
tests/actions/node_modules/.installed: tests/actions/package-lock.json
	@npm ci --prefix tests/actions --ignore-scripts --no-audit --no-fund --silent >&2
	@touch $@

# The policy pack's virtualenv (PulumiPolicy.yaml), from its lock: what every CI job that runs
# the pack makes first.
policy/venv/.installed: policy/requirements.txt
	$(PYTHON) -m venv policy/venv
	policy/venv/bin/python -m pip install --quiet --require-hashes -r policy/requirements.txt
	touch $@

policy-venv: policy/venv/.installed  ## the policy pack's own virtualenv (policy/venv), from its lock

test: $(VENV)/.installed tests/actions/node_modules/.installed  ## the whole test suite (what CI runs)
	$(PY) -m pytest -q -n 2

schema: $(VENV)/.installed  ## the JSON Schema of a stack file for your editor (schemas/stack-config.schema.json) and docs/configuration.md, from the models
	$(PY) -m tools.config_reference

# A .venv whose install did not finish (no .installed) goes too; a complete one stays.
clean:  ## remove build/ and .pytest_cache (and a .venv whose install did not finish)
	rm -rf build .pytest_cache
	[ -f $(VENV)/.installed ] || rm -rf $(VENV)

policy: $(VENV)/.installed  ## the policy pack over the offline plan: make policy STACK=uat
	$(PY) -m preview $(STACK) $(PREVIEW_FLAGS_$(STACK)) >/dev/null
	$(PY) -m policy.offline $(STACK)

# Arguments first: a missing FROM/TO stops before the venv is made, an unknown stack before
# anything is previewed. A side given as a plan.json is not previewed.
diff-args:  ## (used by make diff) stop with the usage unless FROM and TO are given
	@if [ -z "$(FROM)" ] || [ -z "$(TO)" ]; then \
		echo "usage: make diff FROM=<stack> TO=<stack>, e.g. make diff FROM=dev TO=uat" >&2; exit 2; fi

diff: diff-args $(VENV)/.installed  ## what differs between two stacks: make diff FROM=dev TO=uat
	@$(PY) -m preview.diff --check $(FROM) $(TO)
	$(if $(filter %.json,$(FROM)),,$(PY) -m preview $(FROM) $(PREVIEW_FLAGS_$(FROM)) >/dev/null)
	$(if $(filter %.json,$(TO)),,$(PY) -m preview $(TO) $(PREVIEW_FLAGS_$(TO)) >/dev/null)
	$(PY) -m preview.diff $(FROM) $(TO)

# STACK is not defaulted here: without it every stack of the project on either side is compared.
# Not echoed: what it prints is the report alone (FORMAT=--json: JSON and nothing else).
diff-rev: $(VENV)/.installed  ## what a change does to each stack, offline: make diff-rev [BASE=<git ref>] [STACK=x] [FORMAT=--markdown|--json] [FAIL_ON=protected-delete,...]
	@$(PY) -m preview.revdiff $(if $(BASE),--base $(BASE)) $(if $(filter command line,$(origin STACK)),--stack $(STACK)) $(FORMAT) $(if $(FAIL_ON),--fail-on $(FAIL_ON))

new-env: $(VENV)/.installed  ## a new environment stack: make new-env ENV=qa [FROM=test] [QUOTA_CPU=1] [QUOTA_MEMORY=2Gi] [QUOTA_PODS=10]
	$(PY) -m tools.new_env $(ENV) $(if $(FROM),--from $(FROM)) $(if $(QUOTA_CPU),--quota-cpu $(QUOTA_CPU)) $(if $(QUOTA_MEMORY),--quota-memory $(QUOTA_MEMORY)) $(if $(QUOTA_PODS),--quota-pods $(QUOTA_PODS))

# With HOST (and INGRESS_IP, CA_FILE for a self-signed platform) no Pulumi CLI is needed.
# An attached stack also gets the tenancy corpus's live cases, sent with kubectl (its current context, or
# KUBE_CONTEXT) as server-side dry runs: run it with the environments deployer's credentials.
verify: $(VENV)/.installed  ## check a deployed stack from outside: make verify STACK=dev [KUBE_CONTEXT=<ctx>], or make verify HOST=dev.api.example.com INGRESS_IP=<ip> [CA_FILE=ca.pem] [DEMO=1] [NAME_SERVERS=ns1,ns2] [MATRIX=build/dev/plan.json]
	$(PY) -m tools.verify $(if $(HOST),--host $(HOST) $(if $(INGRESS_IP),--ingress-ip $(INGRESS_IP)) $(if $(CA_FILE),--ca-file $(CA_FILE)) $(if $(DEMO),--demo) $(if $(NAME_SERVERS),--name-servers $(NAME_SERVERS)) $(if $(ZONE),--zone $(ZONE)),--stack $(STACK) $(if $(KUBE_CONTEXT),--kube-context $(KUBE_CONTEXT))) $(if $(VERIFY_PATH),--path $(VERIFY_PATH)) $(if $(MATRIX),--matrix $(MATRIX))

bench: $(VENV)/.installed  ## this machine, preview timings and scaling -> build/bench.json; SUITE=1 also times make test
	$(PY) -m preview.bench $(if $(SUITE),--suite) $(if $(RUNS),--runs $(RUNS))

# Every lock from its .in: exact versions with each file's hash, for CPython 3.11+ on any platform.
# What is locked stays; an edited .in adds what it needs. UPGRADE=1 moves every pin (what the
# weekly Dependabot pull request does, with its offline revision diff).
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
lock: $(VENV)/.installed  ## rewrite the lock files from the .in files: make lock [UPGRADE=1]
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) -c requirements.txt requirements-tools.in -o requirements-tools.txt
	$(LOCK) -c requirements-tools.txt requirements-dev.in -o requirements-dev.txt
	$(LOCK) -c requirements-dev.txt requirements-uv.in -o requirements-uv.txt
	$(LOCK) -c requirements.txt policy/requirements.in -o policy/requirements.txt
