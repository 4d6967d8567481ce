"""The child zone: the code that runs beside student code, in the zygote and its workers.

Nothing here judges, and nothing here imports anything outside this folder besides the standard
library, torch, numpy, matplotlib and safetensors (``tests/unit/test_layout.py`` checks it): the
zygote loads this folder as a package of its own (``attnlab.running.processes.BOOT``), so a worker's
memory holds neither the attnlab package, the reference answers nor the judge.

- ``zygote.py``: the warm process that forks workers, and its sandbox probes;
- ``worker.py``: loads one submission and runs the cases it is sent, one handler per case kind;
- ``detectors.py``: forbidden-call detectors, the callee recorder, the device discipline;
- ``replies.py``: the statuses and records both sides of the wire agree on;
- ``wire.py``: the frames on the private socket;
- ``figure_data.py``: what a plot drew, as data;
- ``ahead.py``: the modules a submission imports in function bodies, imported while it loads;
- ``confine/``: the sandbox a worker enters before it loads anything.
"""
