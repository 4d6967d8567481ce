"""What every confined worker gets: its limits, the sandbox layers by id, the host paths it may see, and
the error a worker raises when a layer it was promised did not come up."""

from __future__ import annotations

# Limits every confined worker gets. Its memory comes from course.yml (limits.memory_mb).
FILE_MB = 16  # RLIMIT_FSIZE: the largest file the student's code may write
NPROC = 64  # RLIMIT_NPROC: processes and threads of the worker's user, in its own user namespace
NOFILE = 256  # RLIMIT_NOFILE
WORK_MB = 64  # size of the throwaway /work (cwd and $HOME) and, separately, of /tmp
SHM_MB = 16  # /dev/shm
NOBODY = 65534

MODES = ("auto", "landlock", "off")  # ATTNLAB_SANDBOX; "landlock" skips namespaces, as where they are missing

# Layer ids, in the order `attnlab doctor` shows them, with their names.
LAYERS = {
    "userns": "user namespace",
    "mountns": "mount namespace / filesystem view",
    "netns": "network namespace",
    "pidns": "PID namespace",
    "landlock": "Landlock",
    "seccomp": "seccomp filter",
    "nobody": "drop to nobody",
    "rlimit_data": "rlimit: memory",
    "rlimit_fsize": "rlimit: file size",
    "rlimit_nproc": "rlimit: process count",
    "rlimit_nofile": "rlimit: open files",
}

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
NEW_ROOT = "/tmp"  # where the new root is built, inside the worker's private mount namespace
# The worker's throwaway folders in its new root: (path, size in MB, mode). Mounted before the runtime's
# copies, which may lie beneath them on the host.
SCRATCH = (("/tmp", WORK_MB, "1777"), ("/work", WORK_MB, "700"), ("/dev/shm", SHM_MB, "1777"))


class ConfineError(RuntimeError):
    """A layer the zygote's probe found working failed in a worker: the worker must not run."""
