"""Judging: what a student's function should return, and what its answer was worth. The trusted side's rules.

Its one rule: **judging runs nothing.** It imports neither ``running/`` nor ``reporting/`` and starts no
process (``tests/unit/test_layout.py`` checks it): given a task's cases and the plain replies a worker sent
back, it says the score, the status, the diagnoses and the words. A student's source it reads only as text.

- ``case.py``: what a case is (`Case`) and the dtypes by name, which the answers zone imports too;
- ``cases.py``: the cases of every task, their expected values, and the one door to the answers zone;
- ``tolerance.py``: how near is near enough (`close`, `within`), shared with the answers zone;
- ``judge.py``: a task's replies compared with the expected values, and scored;
- ``diagnose.py``: the catalogue of named mistakes, assembled from each task's ``rules/<task id>.py``;
- ``rules/``: one public module of diagnosis rules per built-in task;
- ``describe.py``: the describer, which names how a wrong output relates to the expected one;
- ``plot_judge.py``: a heatmap judged from the data the child read off the figure;
- ``source.py``: a student's source parsed (one thread at a time) and its constant strings folded;
- ``scan.py``: the source scan for forbidden names and for reaches past the student's own code;
- ``patterns.py``: the forbidden names as the regular expressions the child's detectors apply;
- ``excuses.py``: the rules that excuse (a callee's own forbidden call) or doubt (the canary) what they saw.

The student build ships this room whole, with ``running/`` and ``reporting/``: check() judges with it.
"""
