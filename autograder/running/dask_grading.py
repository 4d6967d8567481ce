"""Grade a class on a Dask distributed cluster: the backend behind ``attnlab grade --dask ADDRESS``.

    run = ClassRun(expand(["submissions/"]), course=course, seed=7, results=ResultsFile("r.jsonl"))
    run.grade(backend=dask_backend("tcp://scheduler:8786"))

The client (the process that runs the class) submits one Dask task per submission to grade. Each task
carries plain data only: the `Submission` as read on the client (its code cells, so the worker needs no
copy of the file), the course as JSON (validated again on the worker), the seed, the task ids, the device
and whether to draw pictures. On the worker, `ZygotePlugin` keeps one warm `Zygote` per worker process,
and the task grades exactly as ``attnlab grade`` does on one machine: `SubmissionGrader`, each submission
in a fresh sandboxed child forked from that zygote. Results stream back as they complete
(``as_completed``), and the client calls ``done(item, result)`` for each: only the client writes the
results file, so a run killed anywhere resumes from it like a local one.

Every Dask worker machine must have:

- attnlab installed at the client's version (a task refuses to run on another), with ``attnlab[dask]``:
  the instructor's install, not the student build, since the self-check grades ``attnlab.reference``;
  torch, numpy, matplotlib and safetensors come with it. The course travels with each task.
- what the sandbox needs (Linux; user namespaces, or Landlock for the fallback; ``attnlab doctor`` on
  that machine says which layers it gets). ``ATTNLAB_SANDBOX`` is read from the worker's environment.
- for ``--device cuda``, a GPU that the worker's zygote can see.

Before its first grade with a given course and device, each worker process runs the self-check (its own
`service.GradingService`), so a machine that would take points from correct work refuses (``SelfCheckFailed``,
naming the worker) instead of grading; a pass is cached on that machine like a local one.

A worker that dies mid-grade loses its task, and the scheduler gives it to another worker (up to
``distributed.scheduler.allowed-failures`` times; then the run stops with an error naming the
submission). The zygote is a session of its own, so signals sent to the worker's process group do not
reach it; it exits when its control socket closes, which the kernel does when the worker dies however it
dies, and the children it forked die with it (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..course import Course
from ..version import __version__
from .classrun import ClassRun, Item
from .grade import SubmissionGrader, unreadable_result
from .processes import Zygote
from .selfcheck import SelfCheckFailed
from .service import GradingService
from .submission import Submission, Unreadable

try:  # an optional extra: without it, `dask_backend` says what to install, and nothing here is used
    from distributed import WorkerPlugin
except ImportError:
    WorkerPlugin = object

PLUGIN_NAME = "attnlab-zygote"
CONNECT_SECONDS = 10.0
RETRIES = 2  # for a task that raised (a zygote that would not start); a dead worker's task is moved anyway
MISSING = "grading on a Dask cluster needs the distributed package: pip install 'attnlab[dask]'"
UNREACHABLE = (
    "cannot reach the Dask scheduler at {address} within {seconds:g} s: "
    "is `dask scheduler` running there, and is the address right?"
)
OTHER_VERSION = "Dask worker {worker} has attnlab {there}, the client {here}: install the same version on every worker"
WORKERS_DIED = (
    "{name}: the Dask workers grading it died, again and again (see distributed.scheduler.allowed-failures); "
    "a worker machine may lack memory"
)


class ZygotePlugin(WorkerPlugin):
    """One warm zygote per Dask worker process, started when the worker starts and killed when it stops.

    Registered again by a later run, it is kept (`idempotent`), so the zygote stays warm between runs.
    """

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self):
        self.service: GradingService | None = None
        self.worker_address = ""

    def setup(self, worker) -> None:
        import torch

        torch.set_num_threads(1)  # this process forks (the zygote), and Dask runs its work on threads
        self.worker_address = worker.address
        self.service = GradingService()  # made here (a lock does not pickle); its zygote imports torch while we wait

    def teardown(self, worker) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None

    def checked_zygote(self, course: Course, device: str) -> Zygote:
        """The live zygote (a new one if it died), once the self-check has passed for `course` and `device`."""
        try:
            return self.service.zygote(course, device)
        except SelfCheckFailed as e:
            raise SelfCheckFailed(f"on Dask worker {self.worker_address}: {e}") from None


def grade_on_worker(
    sub: Submission | Unreadable,
    course: dict,
    seed: int,
    task_ids: list[str],
    device: str,
    pictures: bool,
    version: str,
) -> dict:
    """The Dask task: grade one submission with this worker's zygote; the result dict of `SubmissionGrader`."""
    from distributed import get_worker

    worker = get_worker()
    if version != __version__:
        raise RuntimeError(OTHER_VERSION.format(worker=worker.address, there=__version__, here=version))
    if isinstance(sub, Unreadable):
        return unreadable_result(sub)
    validated = Course.model_validate(course)
    zygote = worker.plugins[PLUGIN_NAME].checked_zygote(validated, device)
    return SubmissionGrader(sub, validated, zygote, seed, device).grade(task_ids, pictures=pictures)


def dask_key(run: ClassRun, item: Item) -> str:
    """The Dask key of one item's grade: its results key, plus what the result depends on beyond it (the
    path, which the result names, the device and the pictures), so that no two different grades share one."""
    extra = json.dumps([item.sub.name, run.device, run.pictures]).encode()
    return f"attnlab-grade-{item.key}-{hashlib.sha256(extra).hexdigest()[:16]}"


def dask_backend(
    address: str, *, connect_timeout: float = CONNECT_SECONDS, retries: int = RETRIES
) -> Callable[[ClassRun, list[Item], Callable[[Item, dict], None]], None]:
    """A `ClassRun.grade` backend that grades on the Dask cluster whose scheduler is at `address`.

    It connects at once, so that a wrong address fails before anything is read or graded: RuntimeError
    where distributed is not installed or the scheduler does not answer within `connect_timeout`
    seconds, ValueError where `address` is none. The backend, called once, closes the connection.
    """
    try:
        import distributed
    except ImportError:
        raise RuntimeError(MISSING) from None
    client = _connect(distributed, address, connect_timeout)

    def backend(run: ClassRun, todo: list[Item], done: Callable[[Item, dict], None]) -> None:
        try:
            if todo:
                _grade(distributed, client, run, todo, done, retries)
        finally:
            client.close()  # releases what is left: the scheduler drops those tasks

    return backend


def _grade(distributed, client, run: ClassRun, todo: list[Item], done: Callable[[Item, dict], None], retries: int):
    """One task per item; `done` for each as it completes, here on the client."""
    client.register_plugin(ZygotePlugin())
    course = run.course.model_dump(mode="json")
    futures = {
        client.submit(
            grade_on_worker,
            item.sub,
            course,
            run.seed,
            run.task_ids,
            run.device,
            run.pictures,
            __version__,
            key=dask_key(run, item),
            retries=retries,
        ): item
        for item in todo
    }
    for future in distributed.as_completed(futures, loop=client.loop):
        item = futures.pop(future)
        try:
            result = future.result()
        except distributed.KilledWorker:
            raise RuntimeError(WORKERS_DIED.format(name=item.sub.name)) from None
        future.release()
        done(item, result)


def _connect(distributed, address: str, timeout: float):
    try:
        _knock(address, timeout)
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError):
        raise RuntimeError(UNREACHABLE.format(address=address, seconds=timeout)) from None
    except ValueError as e:  # an address Dask cannot parse
        raise ValueError(f"not a Dask scheduler address: {address!r} ({e})") from None


def _knock(address: str, timeout: float) -> None:
    """Open and close one connection to `address`, as a Client would (OSError if none within `timeout`).

    Asked first because a Client that never connected blocks for twice its timeout when it is collected,
    and prints a traceback. On an event loop of its own, so that it works where the caller runs one.
    """
    import asyncio

    from distributed.comm import connect
    from distributed.security import Security

    async def knock():
        comm = await connect(address, timeout=timeout, **Security().get_connection_args("client"))
        await comm.close()

    with ThreadPoolExecutor(1, thread_name_prefix="attnlab-dask-connect") as pool:
        pool.submit(asyncio.run, knock()).result()
