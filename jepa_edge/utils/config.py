"""Frozen config dataclasses from TOML files and command-line flags: one mechanism for every config.

The robot config (`loop/config.py`) and the training configs (`training/`) both go through here:

- `build(cls, data)`: a (nested) dict, e.g. a TOML file's, -> a frozen dataclass. Unknown keys are an
  error naming the key; each value is checked against its field's type (`Literal[...]` fields take one
  of the listed values); nothing is silently cast, except an integer given for a string (a camera index).
- `override(cfg, {"planner.samples": 512})`: a copy with dotted keys applied, checked the same way.
- `load_toml(path)`: the file's dict; a missing file or bad TOML is a `ConfigError` naming the file.
- `add_flags(parser, cls)`: one flag per field, with the field's comment in the source as its help
  text, `Literal` values as argparse `choices`; `flag_values(args)` gives back the flags that were set
  as dotted keys (a flag left out is None: the file's value or the default stands).
- `check_choices(cfg)`: the `Literal` fields of an instance built in Python, not from a dict.

Help text comes from comments, not `field(metadata={"help": ...})`: the dataclasses are documented
with one-line comments (on the field's line, or on the lines just above it), which read better in the
source than metadata and cannot drift from a second copy. They are read with `inspect` + `tokenize`
when a parser is built (only for the command that was chosen); without source (a frozen install)
the flags still work, with only their defaults as help.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import types
import typing
from pathlib import Path

from jepa_edge.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FLAG_PREFIX = "cfg:"  # argparse dest of a generated flag: "cfg:" + dotted key


# --- types ---------------------------------------------------------------------------------------

def _optional(hint) -> tuple[object, bool]:
    """`int | None` -> (int, True); `float` -> (float, False)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if type(None) in args:
            rest = [a for a in args if a is not type(None)]
            return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True
    return hint, False


def choices(hint) -> tuple | None:
    """The values of a `Literal[...]` field type (also inside `| None`), else None."""
    hint, _ = _optional(hint)
    return typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None


@functools.lru_cache(maxsize=None)
def field_types(cls) -> dict[str, object]:
    """Resolved field types of a dataclass (string annotations evaluated in the class's module)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def coerce(value, hint, where: str):
    """Check/convert one value (from TOML or a parsed flag) against a field type; raise ConfigError
    naming the key `where`."""
    hint, optional = _optional(hint)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where} must be set")
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        return build(hint, value, where)
    allowed = choices(hint)
    if allowed is not None:
        if value not in allowed or type(value) is not type(allowed[0]):
            raise ConfigError(f"{where} = {value!r}: must be one of {', '.join(map(str, allowed))}")
        return value
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        elem = args[0] if args else float
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{where} must be a list of numbers, got {value!r}")
        if args and args[-1] is not Ellipsis and len(value) != len(args):
            raise ConfigError(f"{where} must have {len(args)} numbers, got {len(value)}")
        return tuple(coerce(v, elem, where) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # camera.source = 0 is a device index
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value


# --- dicts -> dataclasses --------------------------------------------------------------------------

def build(cls, data, where: str = ""):
    """A dict (a TOML file's, or its `[section]`) -> `cls(...)`, every key checked."""
    if not isinstance(data, dict):
        raise ConfigError(f"[{where or 'top level'}] must be a table, got {data!r}")
    hints = field_types(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        prefix = f"[{where}] " if where else ""
        raise ConfigError(f"{prefix}unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(hints))}")
    required = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in data
                and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if required:
        keys = ", ".join(f"{where}.{k}" if where else k for k in required)
        raise ConfigError(f"missing required key(s) {keys}")
    kwargs = {name: coerce(value, hints[name], f"{where}.{name}" if where else name) for name, value in data.items()}
    return cls(**kwargs)


def override(cfg, dotted: dict[str, object]):
    """A copy of `cfg` with {"planner.samples": 512, "steps": 10, ...} applied (each value checked)."""
    nested: dict = {}
    for key, value in dotted.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            nested[head] = value
    return _apply(cfg, nested, "")


def _apply(cfg, nested: dict, where: str):
    hints = field_types(type(cfg))
    unknown = sorted(set(nested) - set(hints))
    if unknown:
        prefix = f"[{where}] " if where else ""
        raise ConfigError(f"{prefix}unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(hints))}")
    values = {}
    for name, value in nested.items():
        key = f"{where}.{name}" if where else name
        inner, _ = _optional(hints[name])
        if dataclasses.is_dataclass(inner) and isinstance(value, dict):
            values[name] = _apply(getattr(cfg, name), value, key)
        else:
            values[name] = coerce(value, hints[name], key)
    # rebuild through the constructor so __post_init__ checks run on the result
    current = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.init}
    return type(cfg)(**{**current, **values})


def load_toml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def check_choices(cfg, where: str = "") -> None:
    """Raise ConfigError naming the key of the first `Literal` field of `cfg` (recursively) whose
    value is not one of its choices: the check `build` does, for an instance made in Python."""
    for name, hint in field_types(type(cfg)).items():
        value, key = getattr(cfg, name), f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(value):
            check_choices(value, key)
        elif (allowed := choices(hint)) is not None and not (value is None and _optional(hint)[1]) \
                and value not in allowed:
            raise ConfigError(f"{key} = {value!r}: must be one of {', '.join(map(str, allowed))}")


# --- help text from the source -----------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _own_comments(cls) -> dict[str, str]:
    """{field: comment} for the fields `cls` itself declares: the comment lines directly above the
    field, then the comment on its own line(s), joined."""
    import ast
    import inspect
    import io
    import textwrap
    import tokenize

    try:
        src = textwrap.dedent(inspect.getsource(cls))
        tree = ast.parse(src)
    except (OSError, TypeError, SyntaxError):
        return {}
    comments: dict[int, tuple[int, str]] = {}  # line -> (column, text)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = (tok.start[1], tok.string.lstrip("#").strip())
    except tokenize.TokenError:
        return {}
    lines = src.splitlines()
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
    out = {}
    for stmt in node.body if node else ():
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        above, ln = [], stmt.lineno - 1
        while ln in comments and not lines[ln - 1][:comments[ln][0]].strip():  # a comment-only line
            above.insert(0, comments[ln][1])
            ln -= 1
        trailing = [comments[n][1] for n in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1) if n in comments]
        text = " ".join(t for t in above + trailing if t)
        if text:
            out[stmt.target.id] = text
    return out


def field_help(cls) -> dict[str, str]:
    """{field: help text} from the comments of `cls` and of the dataclasses it inherits from (a field
    redeclared without a comment keeps its base class's)."""
    out: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        out.update(_own_comments(klass))
    return out


# --- dataclass -> command-line flags -----------------------------------------------------------------

def _parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def _tuple_parser(elem):
    def parse(s: str) -> tuple:
        try:
            return tuple(elem(x) for x in s.split(",") if x.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}") from None
    return parse


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def add_flags(parser, cls, *, dotted: bool = True, prefix: str = "", fields=None, skip=(), extra_help=None) -> int:
    """Add one flag per field of `cls`; returns how many were added.

    dotted=True (robot configs): `--section.field VALUE`, a nested dataclass field becomes an argument
    group `[section]`, booleans take a value (`--surprise.enabled false`).
    dotted=False (training configs): `--field-name VALUE`, booleans are switches (`--dense/--no-dense`).
    Every flag defaults to None (not given: the config file's value or the field default stands);
    collect the given ones with `flag_values`. Required fields (no default) are checked when the
    config is built, so that a config file can supply them too."""
    hints, helps = field_types(cls), field_help(cls)
    extra_help = extra_help or {}
    n = 0
    for f in fields if fields is not None else dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        hint, _ = _optional(hints[f.name])
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hint):
            group = parser.add_argument_group(f"[{key}]", _escape(helps.get(f.name, "")) or None)
            n += add_flags(group, hint, dotted=dotted, prefix=f"{key}.")
            continue
        text = extra_help.get(f.name) or helps.get(f.name, "")
        if f.default is not dataclasses.MISSING:
            text += f" (default: {_shown(f.default)})"
        elif f.default_factory is not dataclasses.MISSING:
            text += f" (default: {_shown(f.default_factory())})"
        else:
            text += " (required)"
        flag = f"--{key}" if dotted else "--" + key.replace("_", "-")
        kw: dict = dict(dest=FLAG_PREFIX + key, default=None, help=_escape(text.strip()))
        allowed = choices(hint)
        if allowed is not None:
            kw.update(type=type(allowed[0]), choices=list(allowed))
        elif typing.get_origin(hint) is tuple:
            args = typing.get_args(hint)
            variable = not args or args[-1] is Ellipsis
            kw.update(type=_tuple_parser(args[0] if args else float),
                      metavar=("X,Y,..." if variable else ",".join("XYZW"[:len(args)])) if dotted else f.name.upper())
        elif hint is bool:
            if dotted:
                kw.update(type=_parse_bool, metavar="{true,false}")
            else:
                kw.update(action=argparse.BooleanOptionalAction)
        else:
            kw.update(type=hint if hint in (int, float, str) else str,
                      metavar=getattr(hint, "__name__", "VALUE").upper() if dotted else f.name.upper())
        parser.add_argument(flag, **kw)
        n += 1
    return n


def _escape(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help strings


def flag_values(args: argparse.Namespace) -> dict[str, object]:
    """{dotted key: value} of the generated flags that were given on the command line."""
    return {k[len(FLAG_PREFIX):]: v for k, v in vars(args).items() if k.startswith(FLAG_PREFIX) and v is not None}


def load(cls, path: str | Path | None = None, overrides: dict[str, object] | None = None):
    """`cls` from a TOML file (or the defaults when path is None), then dotted overrides (flags) on
    top. Errors name the file and the key."""
    data = load_toml(path) if path is not None else {}
    for key, value in (overrides or {}).items():  # flags win over the file
        *heads, last = key.split(".")
        node = data
        for h in heads:
            node = node.setdefault(h, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{path}: [{h}] must be a table")
        node[last] = value
    try:
        return build(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
