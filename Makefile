# The README's two commands. Both install first, so a fresh clone needs nothing else.
PYTHON ?= python3
# Extra pip flags, for example PIP_FLAGS="--extra-index-url <a CPU-only torch index>" on a machine
# without a GPU where pip would otherwise fetch a CUDA build of torch.
PIP_FLAGS ?=
SEED ?= 2026

.PHONY: install system-deps demo test docs screenshots bench student-wheel gpu-wheels

install: system-deps
	$(PYTHON) -m pip install --quiet $(PIP_FLAGS) -e '.[test]'

# What `attnlab hub` and its browser tests need beyond pip: configurable-http-proxy (npm; Node from apt where
# npm is missing) and Chromium (apt). Both need root where missing; without them the browser tests are
# skipped with one line naming the missing piece.
system-deps:
	@command -v configurable-http-proxy >/dev/null || { \
		if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; fi; \
		if command -v npm >/dev/null; then npm install --global --silent configurable-http-proxy@5; \
		else echo "attnlab: configurable-http-proxy is missing and npm cannot be installed here: browser tests will be skipped"; fi; }
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "attnlab: chromium is missing (apt-get install chromium, as root): browser tests will be skipped"; fi; }

demo: install
	$(PYTHON) -m attnlab.cli grade --seed $(SEED) assignments/examples/*.py

# Lint first (seconds), then every test; `$(PYTHON) -m pytest -m "not slow"` is the quick subset (under a minute).
test: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest -q

# The docs site (MkDocs), strictly, into build/site/: open build/site/index.html. The suite builds it too.
docs: install
	$(PYTHON) -m mkdocs build --strict

# docs/lessons/*.png: the lessons' figures, rendered by Chromium from the executed notebooks.
screenshots: install
	$(PYTHON) docs/screenshots.py

# Each script prints its numbers beside `python -c "import torch"`, measured in the same run; see README.
bench: install
	$(PYTHON) benchmarks/cold_start.py
	$(PYTHON) benchmarks/class_throughput.py
	$(PYTHON) benchmarks/nbgrader_class.py
	$(PYTHON) benchmarks/grade_one.py
	$(PYTHON) benchmarks/describe_cost.py

# The wheel for the students' image: check() and the public cases, without the answers.
student-wheel: install
	$(PYTHON) -m attnlab.student_build dist/student

# For benchmarks/gpu_check.sh on a GPU machine that has torch but no network: attnlab's wheel and the
# dependencies that machine's image lacks (nbformat, pydantic and theirs), for its Python.
GPU_PYTHON_VERSION ?= 3.12
gpu-wheels:
	rm -rf wheels && mkdir -p wheels
	$(PYTHON) -m pip wheel --quiet --no-deps -w wheels .
	$(PYTHON) -m pip download --quiet --only-binary=:all: --python-version $(GPU_PYTHON_VERSION) --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d wheels nbformat 'pydantic>=2.5,<3'
