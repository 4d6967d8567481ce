"""The source scan: every forbidden name a submission spells, and every reach past its own code, read in the parent.

`scan_source` flags, per top-level function, an attribute, name or string that spells a forbidden function (with
names built from pieces evaluated by ``source.Folder``); every reach for the switches that would blind the
runtime layers (``torch._C.DisableTorchFunction``, the mode stacks, ``__torch_function__`` overrides); and every
reach past the student's own code into the grader's process (``sys.modules``, ``__main__``, ``gc``, frames,
``__globals__``, ``eval``, ``getattr`` with a name built at run time, ...), which could switch the runtime layers
off from inside. The runtime layers are the child's (``attnlab.child.detectors``), on the patterns of
``patterns.py``; the rules that excuse or doubt what they saw are ``excuses.py``'s.

`positional_params` and `defined_as` say whose a call is: a submission's callee is the course's task of that name
only where it is defined with the contract's positional parameters.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace

from .patterns import spelled
from .source import Folder, parse

# Reaching for these switches off or fools the runtime detectors, so reaching is itself forbidden.
EVASION_NAMES = {
    "DisableTorchFunction",
    "DisableTorchFunctionSubclass",
    "_disabled_torch_function_impl",
    "_pop_mode",
    "_push_mode",
    "_set_torch_function_mode",
    "_get_current_function_mode_stack",
    "_get_current_dispatch_mode_stack",
    "_pop_torch_function_stack",
    "_push_on_torch_function_stack",
    "_python_dispatch",
    "TorchFunctionMode",
    "TorchDispatchMode",
    "__torch_function__",
    "__torch_dispatch__",
    "_C",
}


@dataclass
class Finding:
    name: str  # the forbidden name, or "evasion:<what>"
    line: int
    text: str
    owner: str = ""  # the top-level function or class it is in; "" outside any

    @property
    def evasion(self) -> bool:
        return self.name.startswith("evasion:")


# ------------------------------------------------------------------------------------------ the source scan

# Capabilities that reach past the student's own code into the grader's process around it: its objects (through
# the module table, the garbage collector, stack frames, a function's globals or closure) or code the scan cannot
# read (eval, exec, a name built at run time). An honest solution needs none of them, so each is flagged as an
# evasion, however it is spelled.

#: Attributes that reach frames, a function's insides, tracing hooks or the interpreter, on whatever object.
REACH_ATTRIBUTES = {
    "_getframe",
    "_current_frames",
    "settrace",
    "setprofile",
    "f_back",
    "f_globals",
    "f_locals",
    "f_builtins",
    "tb_frame",
    "gi_frame",
    "cr_frame",
    "ag_frame",
    "__traceback__",
    "__globals__",
    "__closure__",
    "__code__",
    "cell_contents",
    "__self__",
    "__subclasses__",
    "__builtins__",
    "__import__",
}
#: Modules that reach the whole process: importing one, or naming it, is flagged.
REACH_MODULES = {"gc", "ctypes", "_ctypes", "inspect", "builtins", "__main__"}
#: Built-in functions that run code the scan cannot read.
REACH_BUILTINS = {"eval", "exec", "compile", "__builtins__"}
#: What a submission may use of `sys`; the rest (`sys.modules`, `sys._getframe`, tracing hooks) reaches the grader.
SYS_ALLOWED = {
    "path",
    "version",
    "version_info",
    "platform",
    "stdout",
    "stderr",
    "stdin",
    "float_info",
    "int_info",
    "maxsize",
    "argv",
    "executable",
    "exit",
    "getsizeof",
    "getrecursionlimit",
    "setrecursionlimit",
    "byteorder",
    "implementation",
    "hexversion",
    "float_repr_style",
    "prefix",
    "base_prefix",
    "exec_prefix",
    "base_exec_prefix",
    "flags",
    "getdefaultencoding",
    "getfilesystemencoding",
}
#: Built-ins that take an attribute name, and its position.
NAME_TAKERS = {"getattr": 1, "hasattr": 1, "setattr": 1, "delattr": 1}
#: Functions that look an object up by a (dotted) name.
RESOLVERS = {"__import__", "import_module", "find_spec", "locate", "resolve_name", "attrgetter", "methodcaller"}
#: A name looked up through one of those must not spell any of these.
NAME_REACH = (
    set(EVASION_NAMES)
    | REACH_ATTRIBUTES
    | REACH_MODULES
    | REACH_BUILTINS
    | set(NAME_TAKERS)
    | RESOLVERS
    | {"sys", "modules", "__dict__", "globals", "vars", "locals", "__getattribute__", "__getattr__", "reload"}
)
#: Methods of a namespace dict (``globals()``, ``vars(obj)``, ``obj.__dict__``) that only read it.
_DICT_READS = {"keys", "items", "values", "copy", "__iter__", "__len__", "__contains__"}


def scan_source(cells: list[str], forbidden: list[str]) -> dict[str, list[Finding]]:
    """Findings per top-level function or class name ("" for code that runs when the file loads), from every cell.

    Flagged: an attribute that spells a forbidden name (``torch.softmax``, ``x.softmax``), a local name
    imported or bound at module level under a forbidden name (``from torch.nn.functional import softmax as
    sm``, ``_f = F.softmax``; then ``sm``, ``_f``), a string that spells one, with simple constant
    expressions evaluated (``getattr(F, "soft" + "max")``), any reach for an evasion switch, and any reach past
    the student's own code: ``sys.modules``, ``__main__``, ``gc``, ``ctypes``, ``inspect``, frames and
    tracebacks, a function's ``__globals__``, ``__closure__`` or ``__code__``, ``__subclasses__``,
    ``__builtins__``, writes through ``globals()``, ``eval``/``exec``/``compile``, and ``getattr`` and its kin,
    ``__import__`` or ``importlib`` with a name built at run time. A student's own function that happens to be
    called ``softmax`` is not flagged: what it calls is.

    Code outside any function (decorators, default values and class bodies included) runs when the file loads,
    and so does every top-level function that code uses: their evasions are also listed under "".
    """
    return _Scan(cells, forbidden).run()


class _Scan:
    """One pass over a submission's cells, for `scan_source`."""

    def __init__(self, cells: list[str], forbidden: list[str]):
        self.forbidden = forbidden
        self.trees = []
        self.unread: list[int] = []  # cells too deeply nested to parse here, which the worker may still run
        for index, source in enumerate(cells):
            try:
                self.trees.append((parse(source), source.splitlines()))
            except SyntaxError:
                continue  # it cannot run in the worker either
            except (RecursionError, MemoryError, ValueError):
                self.unread.append(index)
        self.parent: dict[int, ast.AST] = {}
        self.where: dict[int, tuple[str, bool]] = {}  # node -> (its top-level function or class, or ""; runs at load)
        for tree, _ in self.trees:
            for node in ast.walk(tree):
                for child in ast.iter_child_nodes(node):
                    self.parent[id(child)] = node
            for top in tree.body:
                owner = top.name if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else ""
                self._place(top, owner)
        self.fold = Folder([tree for tree, _ in self.trees]).fold
        self.modules = self._module_aliases()
        self.imported = self._forbidden_aliases()

    # -- where code runs, and what names hold

    def _place(self, top: ast.AST, owner: str) -> None:
        """A def's body runs when called; everything else here (decorators, defaults, a class body) at load."""
        stack = [(top, True)]
        while stack:
            node, load = stack.pop()
            self.where[id(node)] = (owner, load)
            body = node.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else None
            inner = {id(b) for b in body} if isinstance(body, list) else {id(body)} if body is not None else set()
            for child in ast.iter_child_nodes(node):
                stack.append((child, load and id(child) not in inner))

    def _module_aliases(self) -> dict[str, str]:
        """Local name -> the dotted module (or module attribute) an import bound it to."""
        aliases: dict[str, str] = {}
        for tree, _ in self.trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for a in node.names:
                        aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    for a in node.names:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        return aliases

    def _forbidden_aliases(self) -> dict[str, str]:
        """Local name -> the forbidden name it was imported as, or bound to at module level (`_f = F.softmax`)."""
        imported: dict[str, str] = {}
        for tree, _ in self.trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    for a in node.names:
                        hit = spelled(a.name, self.forbidden)
                        if hit:
                            imported[a.asname or a.name] = hit
        for _ in range(3):  # `_g = _f` after `_f = F.softmax`
            for tree, _ in self.trees:
                for top in tree.body:
                    if isinstance(top, ast.Assign) and all(isinstance(t, ast.Name) for t in top.targets):
                        hit = self._carries(top.value, imported)
                        for t in top.targets if hit else []:
                            imported[t.id] = hit
        return imported

    def _carries(self, value: ast.AST, imported: dict[str, str]) -> str | None:
        """The forbidden function `value` is itself (not what calling it returned): `F.softmax`, an alias of
        one, `getattr(F, "soft" + "max")`."""
        if isinstance(value, ast.Attribute):
            return spelled(value.attr, self.forbidden)
        if isinstance(value, ast.Name):
            return imported.get(value.id)
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "getattr"
            and len(value.args) >= 2
        ):
            name = self.fold(value.args[1])
            return spelled(name.split(".")[-1], self.forbidden) if name else None
        return None

    # -- the checks

    def run(self) -> dict[str, list[Finding]]:
        found: dict[str, list[Finding]] = {}
        at_load: list[Finding] = []
        seen: set[tuple] = set()
        for tree, lines in self.trees:
            for node in ast.walk(tree):
                owner, load = self.where.get(id(node), ("", True))
                load = load and not isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef)
                )  # a def's name: its body's
                line = getattr(node, "lineno", 0)
                text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
                for name in self._check(node, owner):
                    if (owner, name, line, text) in seen:
                        continue
                    seen.add((owner, name, line, text))
                    finding = Finding(name, line, text, owner)
                    found.setdefault(owner, []).append(finding)
                    if load and owner and finding.evasion:
                        at_load.append(finding)
        at_load += [f for owner in sorted(self._reached_at_load()) for f in found.get(owner, []) if f.evasion]
        at_load += [Finding("evasion:code too deeply nested to read", 0, f"cell {i + 1}") for i in self.unread]
        for finding in at_load:  # owned by no task: what runs at load no graded callee can answer for
            copy = replace(finding, owner="")
            if copy not in found.get("", []):
                found.setdefault("", []).append(copy)
        return found

    def _reached_at_load(self) -> set[str]:
        """The top-level functions and classes that code running at load calls, directly or not."""
        tops = {owner for owner, _ in self.where.values() if owner}
        direct: dict[str, set[str]] = {}
        start: set[str] = set()
        for tree, _ in self.trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in tops:
                    owner, load = self.where.get(id(node), ("", True))
                    if load:
                        start.add(node.id)
                    else:
                        direct.setdefault(owner, set()).add(node.id)
        seen, todo = set(start), list(start)
        while todo:
            for used in direct.get(todo.pop(), set()) - seen:
                seen.add(used)
                todo.append(used)
        return seen

    def _check(self, node: ast.AST, owner: str) -> list[str]:
        out: list[str] = []
        if isinstance(node, ast.Attribute):
            a = node.attr
            hit = spelled(a, self.forbidden)
            if hit:
                out.append(hit)
            elif a in EVASION_NAMES or a in REACH_ATTRIBUTES or a in REACH_MODULES:
                out.append(f"evasion:{a}")
            if a == "sys":
                out += self._sys_use(node)
            elif a == "__dict__":
                out += self._namespace_use(node, "__dict__", reads_ok=False)
            out += self._callable_use(node, a)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            n = node.id
            if n in self.imported:
                out.append(self.imported[n])
            elif n in EVASION_NAMES or n in REACH_BUILTINS:
                out.append(f"evasion:{n}")
            module = self.modules.get(n, "").split(".")
            if set(module) & REACH_MODULES:
                out.append(f"evasion:{'.'.join(module)}")
            elif module[-1] == "sys":
                out += self._sys_use(node)
            elif n in ("globals", "vars", "locals"):
                out += self._namespace_call(node, n)
            out += self._callable_use(node, n)
        elif isinstance(node, ast.alias):
            last = node.name.split(".")[-1]
            hit = spelled(last, self.forbidden)
            if hit and owner != "":  # a top-level import is charged where the name is used
                out.append(hit)
            elif last in EVASION_NAMES:
                out.append(f"evasion:{last}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [f"{node.module}.{a.name}" for a in node.names if node.module]
            )
            out += [f"evasion:import {m}" for m in modules if set(m.split(".")) & REACH_MODULES]
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "sys":
                out += [f"evasion:sys.{a.name}" for a in node.names if a.name not in SYS_ALLOWED]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in EVASION_NAMES:
            out.append(f"evasion:{node.name}")
        if isinstance(node, (ast.Constant, ast.BinOp, ast.JoinedStr, ast.Call, ast.Subscript)):
            out += self._string(node)
        return out

    def _string(self, node: ast.AST) -> list[str]:
        s = self.fold(node)
        if s is None or not re.fullmatch(r"[\w.]+", s):
            return []
        parts = s.split(".")
        hit = spelled(parts[-1], self.forbidden)
        if hit:
            return [hit]
        reach = [p for p in parts if p in EVASION_NAMES or p in REACH_ATTRIBUTES]
        if reach:
            return [f"evasion:{reach[0]}"]
        if s == "__main__" and not self._main_guard(node):
            return ["evasion:__main__"]
        return []

    def _main_guard(self, node: ast.AST) -> bool:
        """``if __name__ == "__main__":``, which never runs in the grader."""
        p = self.parent.get(id(node))
        return isinstance(p, ast.Compare) and any(
            isinstance(x, ast.Name) and x.id == "__name__" for x in [p.left, *p.comparators]
        )

    def _name(self, s: str) -> list[str]:
        """What an attribute or module name looked up at run time reaches: a forbidden name, or past the
        worker's own code."""
        out = []
        for part in s.split("."):
            hit = spelled(part, self.forbidden)
            if hit:
                out.append(hit)
            elif part in NAME_REACH:
                out.append(f"evasion:{part}")
        return out

    def _name_arg(self, call: ast.Call, index: int, what: str) -> list[str]:
        if index >= len(call.args) or index < 0:
            return []
        arg = call.args[index]
        s = None if isinstance(arg, ast.Starred) else self.fold(arg)
        if s is None:
            return [f"evasion:{what} with a name built at run time"]
        return self._name(s)

    def _called(self, node: ast.AST) -> ast.Call | None:
        p = self.parent.get(id(node))
        return p if isinstance(p, ast.Call) and p.func is node else None

    def _callable_use(self, node: ast.AST, name: str) -> list[str]:
        """getattr and its kin, and the name resolvers: called with a name the scan can read, or flagged."""
        if (
            name not in NAME_TAKERS
            and name not in RESOLVERS
            and name not in ("__getattribute__", "__getattr__", "reload")
        ):
            if name in ("eval", "exec") and isinstance(node, ast.Attribute):  # builtins reached some other way;
                call = self._called(node)  # nn.Module.eval() takes no argument
                return [f"evasion:{name}"] if call is not None and (call.args or call.keywords) else []
            return []
        if (
            isinstance(node, ast.Attribute)
            and name in NAME_TAKERS
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            return []  # a method of the student's own class that happens to be called getattr
        call = self._called(node)
        if call is None:
            return [f"evasion:{name} used as a value"]
        if name == "reload":
            return ["evasion:reload"]
        if name in NAME_TAKERS:
            target = call.args[0] if call.args else None
            if (
                isinstance(target, ast.Name)
                and target.id == "self"
                and (len(call.args) < 2 or self.fold(call.args[1]) is None)
            ):
                return []  # the student's own module, `setattr(self, f"W_{name}", ...)`: reaches nothing else
            return self._name_arg(call, NAME_TAKERS[name], name)
        if name in ("__getattribute__", "__getattr__"):
            return self._name_arg(call, len(call.args) - 1, name) if call.args else []
        indices = range(len(call.args)) if name == "attrgetter" else [0]
        return [f for i in indices for f in self._name_arg(call, i, name)]

    def _sys_use(self, node: ast.AST) -> list[str]:
        p = self.parent.get(id(node))
        if isinstance(p, ast.Attribute) and p.value is node:
            return [] if p.attr in SYS_ALLOWED else [f"evasion:sys.{p.attr}"]
        return ["evasion:sys"]  # the module itself passed on, where the scan cannot follow it

    def _namespace_call(self, node: ast.Name, name: str) -> list[str]:
        call = self._called(node)
        if call is None:
            return [f"evasion:{name} used as a value"]
        own = name == "locals" or (name == "vars" and not call.args)  # a function's own variables: reading is fine
        return self._namespace_use(call, f"{name}()", reads_ok=own)

    def _namespace_use(self, expr: ast.AST, label: str, reads_ok: bool) -> list[str]:
        """A namespace dict (``globals()``, ``vars(obj)``, ``obj.__dict__``): a read of a key the scan can read
        is checked as a name; a write, or a key built at run time, is flagged, and so is any other use where
        the dict holds more than the student's own variables."""
        p = self.parent.get(id(expr))
        key = None
        if isinstance(p, ast.Subscript) and p.value is expr:
            if not isinstance(p.ctx, ast.Load):
                return [f"evasion:{label} written"]
            key = p.slice
        elif isinstance(p, ast.Attribute) and p.value is expr:
            call = self._called(p)
            if p.attr in ("get", "__getitem__") and call is not None and call.args:
                key = call.args[0]
            elif p.attr in _DICT_READS:
                return [] if reads_ok else [f"evasion:{label}"]
            else:
                return [f"evasion:{label} written"]
        elif isinstance(p, ast.Compare):
            return []
        if key is None:
            return [] if reads_ok else [f"evasion:{label}"]
        s = self.fold(key)
        if s is None:
            return [] if reads_ok else [f"evasion:{label}[...] with a key built at run time"]
        return self._name(s)


# ------------------------------------------------------------------------------------- whose call it is


def positional_params(fn) -> list[str]:
    """The names of a contract function's positional parameters (a class: its ``__init__``'s, without self)."""
    import inspect

    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds]


def defined_as(cells: list[str], function: str, params: list[str]) -> bool:
    """Whether the submission's last top-level definition of `function` takes exactly `params`, in order, as its
    positional parameters: then it is the course's task of that name, not a helper that shares the name."""
    last = None
    for source in cells:
        try:
            tree = parse(source)
        except SyntaxError:
            continue
        for top in tree.body:
            if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and top.name == function:
                last = top
    if isinstance(last, ast.ClassDef):
        init = [n for n in last.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
        return bool(init) and [a.arg for a in init[-1].args.posonlyargs + init[-1].args.args][1:] == params
    if last is None:
        return False
    return [a.arg for a in last.args.posonlyargs + last.args.args] == params
