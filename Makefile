# Two commands on a fresh machine: `make preview` and `make test`. Each creates .venv on first run.
STACK ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: preview test policy diff new-env verify bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The provided-certificate example previews with a throwaway pair made in memory.
PREVIEW_FLAGS_provided := --demo-certificate

preview: $(VENV)/.installed  ## offline preview of one stack: make preview STACK=uat
	$(PY) -m preview $(STACK) $(PREVIEW_FLAGS_$(STACK))

test: $(VENV)/.installed  ## the whole test suite (what CI runs)
	$(PY) -m pytest -q

clean:
	rm -rf build .pytest_cache

policy: $(VENV)/.installed  ## the policy pack over the offline plan: make policy STACK=uat
	$(PY) -m preview $(STACK) $(PREVIEW_FLAGS_$(STACK)) >/dev/null
	$(PY) -m policy.offline $(STACK)

diff: $(VENV)/.installed  ## what differs between two stacks: make diff FROM=dev TO=uat
	$(PY) -m preview $(FROM) $(PREVIEW_FLAGS_$(FROM)) >/dev/null
	$(PY) -m preview $(TO) $(PREVIEW_FLAGS_$(TO)) >/dev/null
	$(PY) -m preview.diff $(FROM) $(TO)

new-env: $(VENV)/.installed  ## a new environment stack: make new-env ENV=qa [FROM=test] [QUOTA_CPU=1] [QUOTA_MEMORY=2Gi] [QUOTA_PODS=10]
	$(PY) -m tools.new_env $(ENV) $(if $(FROM),--from $(FROM)) $(if $(QUOTA_CPU),--quota-cpu $(QUOTA_CPU)) $(if $(QUOTA_MEMORY),--quota-memory $(QUOTA_MEMORY)) $(if $(QUOTA_PODS),--quota-pods $(QUOTA_PODS))

verify: $(VENV)/.installed  ## check a deployed stack from outside: make verify STACK=dev
	$(PY) -m tools.verify --stack $(STACK) $(if $(VERIFY_PATH),--path $(VERIFY_PATH))

bench: $(VENV)/.installed  ## preview timings and scaling -> build/bench.json
	$(PY) -m preview.bench
