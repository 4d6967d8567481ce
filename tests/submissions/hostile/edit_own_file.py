# hostile: rewrite its own file during grading into a perfect answer (the base without this attack and its
# wrong causal_mask), wherever it finds it, then crash, so that the grader loads the file again. The
# grader must grade what was submitted: causal_mask stays wrong, and the original file is untouched.
import os

SIGNATURE = "attnlab-hostile: edit_own_file"
FIRST_LINE = "# hostile: rewrite its own file"


def causal_mask(seq_len, device=None):
    """Wrong on purpose: the upper triangle."""
    return torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool, device=device))  # noqa: F821


def _folders(top: str) -> list:
    """The folders right under `top`: each is searched on a budget of its own, so that one crowded folder (a
    test's venv being built beside this run) cannot use up the search before it reaches the others."""
    try:
        return [e.path for e in os.scandir(top) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _copies() -> set:
    paths = {os.path.abspath(__file__)}
    here = os.path.dirname(os.path.abspath(__file__))
    for root in dict.fromkeys([here, os.getcwd(), *_folders("/tmp"), os.path.expanduser("~")]):
        seen = 0
        for folder, dirs, files in os.walk(root):
            # Not where it lies: installed packages and whole Python environments (a machine's /tmp may hold several),
            # nor a checkout of this project (pyproject.toml), whose own copy of this attack a run in /tmp would reach.
            if "pyvenv.cfg" in files or ("pyproject.toml" in files and folder != here):
                dirs[:] = []
                continue
            dirs[:] = [d for d in dirs if d not in ("site-packages", "node_modules", ".git")]
            for name in files:
                seen += 1
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    try:
                        with open(path) as f:
                            if SIGNATURE in f.read(1 << 20):
                                paths.add(path)
                    except (OSError, UnicodeDecodeError):
                        pass
            if seen > 20000:
                break
    return paths


def qk_scores(q, k):
    for path in sorted(_copies()):
        try:
            with open(path) as f:
                text = f.read()
            perfect = text[: text.index(FIRST_LINE)] if FIRST_LINE in text else text
            with open(path, "w") as f:
                f.write(perfect)
            print(f"edited: {path}", flush=True)
        except OSError as e:
            print(f"could not edit: {path}: {e.strerror}", flush=True)
    os._exit(3)
