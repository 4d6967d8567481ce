"""A student's source as the trusted side reads it: parsed one thread at a time, and its constant strings folded.

`parse` is the one door through which the trusted side parses a submission (``tests/unit/test_layout.py``).
`Folder` evaluates the strings a source always builds (``"soft" + "max"``, ``"".join(...)``, names bound once to
such), for the source scan (``scan.py``), which must see a forbidden name however it is spelled.
"""

from __future__ import annotations

import ast
import re
import threading

_PARSING = threading.Lock()


def parse(source: str) -> ast.Module:
    """`ast.parse`, one thread at a time: CPython 3.11's parser can fail with "AST constructor recursion depth
    mismatch" (a SystemError) when two threads parse at once, and a class run judges on several threads."""
    with _PARSING:
        return ast.parse(source)


_LONGEST = 4096  # a folded string longer than this is no name: stop folding
# The string methods `Folder.fold` evaluates on a constant string, with at most two constant string arguments.
_STR_METHODS = (
    "replace",
    "upper",
    "lower",
    "strip",
    "lstrip",
    "rstrip",
    "title",
    "capitalize",
    "swapcase",
    "casefold",
    "removeprefix",
    "removesuffix",
)


class Folder:
    """The constant strings of one submission's parsed cells (`fold`)."""

    def __init__(self, trees: list[ast.Module]):
        self.trees = trees
        self._folded: dict[int, str | None] = {}
        self.constants = self._constants()

    def _constants(self) -> dict[str, ast.AST]:
        """Names bound exactly once in the whole submission, by a plain `name = expression`."""
        stores: dict[str, int] = {}
        values: dict[str, ast.AST] = {}
        for tree in self.trees:
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                    names = [node.id]
                elif isinstance(node, ast.arg):
                    names = [node.arg]
                elif isinstance(node, ast.alias):
                    names = [(node.asname or node.name).split(".")[0]]
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names = [node.name]
                elif isinstance(node, ast.ExceptHandler) and node.name:
                    names = [node.name]
                elif isinstance(node, (ast.Global, ast.Nonlocal)):
                    names = list(node.names)
                for n in names:
                    stores[n] = stores.get(n, 0) + 1
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    values[node.targets[0].id] = node.value
        return {n: v for n, v in values.items() if stores.get(n) == 1}

    def fold(self, node: ast.AST, seen: tuple = ()) -> str | None:
        """The string `node` always evaluates to, where the source makes that plain: literals, ``+``, ``*``,
        ``%s``, f-strings, ``"".join``, ``.format``, slices, simple string methods, ``str``, ``chr``, and names
        bound once to such. None otherwise."""
        if not seen and id(node) in self._folded:
            return self._folded[id(node)]
        try:
            fold_kind = self._folder(node)
            s = fold_kind(node, seen) if fold_kind else None
        except RecursionError:  # nested past reading: no name the scan can vouch for
            return None
        s = s if s is None or len(s) <= _LONGEST else None
        if not seen:
            self._folded[id(node)] = s
        return s

    def _value(self, node: ast.AST, seen: tuple):
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int)
            and not isinstance(node.operand.value, bool)
        ):
            return -node.operand.value
        return self.fold(node, seen)

    def _items(self, node: ast.AST, seen: tuple) -> list | None:
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.fold(e, seen) for e in node.elts]
            return None if any(i is None for i in items) else items
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("reversed", "list", "tuple")
            and len(node.args) == 1
            and not node.keywords
        ):
            items = self._items(node.args[0], seen)
            return items[::-1] if items is not None and node.func.id == "reversed" else items
        s = self.fold(node, seen)
        return list(s) if s is not None else None

    def _folder(self, node: ast.AST):
        """The method that folds `node`'s kind of expression, or None. (`fold` calls it, then the method: one
        frame per level, as deep as nesting may go before the RecursionError that `fold` turns into None.)"""
        if isinstance(node, ast.Constant):
            return self._fold_constant
        if isinstance(node, ast.Name):
            return self._fold_name
        if isinstance(node, ast.BinOp):
            return self._fold_binop
        if isinstance(node, ast.JoinedStr):
            return self._fold_fstring
        if isinstance(node, ast.Subscript):
            return self._fold_subscript
        if isinstance(node, ast.Call) and not node.keywords and not any(isinstance(a, ast.Starred) for a in node.args):
            if isinstance(node.func, ast.Name):
                return self._fold_builtin
            if isinstance(node.func, ast.Attribute):
                return self._fold_method
        return None

    def _fold_constant(self, node: ast.Constant, seen: tuple) -> str | None:
        return node.value if isinstance(node.value, str) else None

    def _fold_name(self, node: ast.Name, seen: tuple) -> str | None:
        if node.id in seen or node.id not in self.constants:
            return None
        return self.fold(self.constants[node.id], (*seen, node.id))

    def _fold_binop(self, node: ast.BinOp, seen: tuple) -> str | None:
        """``+`` of strings, ``*`` of a string and an int, ``%`` with only ``%s`` (and ``%%``) in it."""
        left, right = self._value(node.left, seen), self._value(node.right, seen)
        if isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str):
            return left + right
        if isinstance(node.op, ast.Mult) and {type(left), type(right)} == {str, int}:
            text, n = (left, right) if isinstance(left, str) else (right, left)
            return text * n if len(text) * max(n, 0) <= _LONGEST else None
        if isinstance(node.op, ast.Mod) and isinstance(left, str) and re.fullmatch(r"(?:[^%]|%s|%%)*", left):
            args = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
            vals = [self._value(a, seen) for a in args]
            if all(v is not None for v in vals):
                try:
                    return left % tuple(vals)
                except (TypeError, ValueError):
                    return None
        return None

    def _fold_fstring(self, node: ast.JoinedStr, seen: tuple) -> str | None:
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
                continue
            if not isinstance(v, ast.FormattedValue) or v.format_spec is not None:
                return None
            value = self._value(v.value, seen)
            if value is None:
                return None
            parts.append(repr(value) if v.conversion in (ord("r"), ord("a")) else str(value))
        return "".join(parts)

    def _fold_subscript(self, node: ast.Subscript, seen: tuple) -> str | None:
        base = self.fold(node.value, seen)
        if base is None:
            return None
        sl = node.slice
        if isinstance(sl, ast.Slice):
            bounds = [None if b is None else self._value(b, seen) for b in (sl.lower, sl.upper, sl.step)]
            if all(b is None or isinstance(b, int) for b in bounds) and bounds[2] != 0:
                return base[slice(*bounds)]
            return None
        index = self._value(sl, seen)
        return base[index] if isinstance(index, int) and -len(base) <= index < len(base) else None

    def _fold_builtin(self, node: ast.Call, seen: tuple) -> str | None:
        """``str(x)`` and ``chr(n)``."""
        func, args = node.func, node.args
        if len(args) == 1:
            if func.id == "str":
                return self.fold(args[0], seen)
            if func.id == "chr":
                code = self._value(args[0], seen)
                return chr(code) if isinstance(code, int) and 0 <= code < 0x110000 else None
        return None

    def _fold_method(self, node: ast.Call, seen: tuple) -> str | None:
        """A string method on a string: ``join``, ``format`` (with plain ``{}`` fields) and `_STR_METHODS`."""
        func, args = node.func, node.args
        base = self.fold(func.value, seen)
        if base is None:
            return None
        if func.attr == "join" and len(args) == 1:
            items = self._items(args[0], seen)
            return base.join(items) if items is not None else None
        if func.attr == "format" and re.fullmatch(r"(?:[^{}]|\{\d*\}|\{\{|\}\})*", base):
            vals = [self._value(a, seen) for a in args]
            if all(v is not None for v in vals):
                try:
                    return base.format(*vals)
                except (IndexError, ValueError):
                    return None
            return None
        if func.attr in _STR_METHODS:
            vals = [self.fold(a, seen) for a in args]
            if all(v is not None for v in vals) and len(vals) <= 2:
                return getattr(str, func.attr)(base, *vals)
        return None
