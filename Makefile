# The README's two commands. Both install first, so a fresh clone needs nothing else.
PYTHON ?= python3
# Extra pip flags, for example PIP_FLAGS="--extra-index-url <a CPU-only torch index>" on a machine
# without a GPU where pip would otherwise fetch a CUDA build of torch.
PIP_FLAGS ?=
SEED ?= 2026

.PHONY: install demo test bench student-wheel

install:
	$(PYTHON) -m pip install --quiet $(PIP_FLAGS) -e '.[test]'

demo: install
	$(PYTHON) -m attnlab.cli grade --seed $(SEED) assignments/examples/*.py

test: install
	$(PYTHON) -m pytest -q

bench: install
	$(PYTHON) benchmarks/grade_one.py

# The wheel for the students' image: check() and the public cases, without the answers.
student-wheel: install
	$(PYTHON) -m attnlab.student_build dist/student
