"""Running: the trusted parent's side of the child processes. It starts them, feeds them, and files what they said.

Its one rule: **running decides no grade.** Every verdict comes from ``judging/``; what happens here is
loading a submission, starting and confining the processes that run it, keeping time, and keeping the results.

- ``submission.py``: the one loader, a ``.py`` module or a notebook as a list of code cells;
- ``processes.py``: the zygote and its workers, as the parent holds them;
- ``grade.py``: one submission graded, task by task, in a worker (`SubmissionGrader`, `grade_paths`);
- ``classrun.py``: a class graded in parallel, each submission once, results kept as they come;
- ``dask_grading.py``: the same class run on a Dask cluster, one warm zygote per Dask worker;
- ``service.py``: the grading service every door uses: one checked zygote, one seed rule, one entry;
- ``selfcheck.py``: a known-correct submission graded on this machine before anyone else's;
- ``found.py``: the submissions a run finds on disk, and who handed each in (nbgrader's layout);
- ``results.py``: the results file, one JSON line per submission, keyed by what its grade depends on.
"""
