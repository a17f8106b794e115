"""Run an Argo CD Lua health script the way Argo CD does, so tests can judge our scripts.

Argo CD evaluates `resource.customizations.health.<group>_<Kind>` in gopher-lua, a Lua 5.1
interpreter, with only the base, table and package libraries and a "safe" os library opened; the
resource is the global `obj` and the script returns `{status = ..., message = ...}`. A status outside
Argo CD's set becomes Unknown. We run the scripts in real Lua 5.1 (lupa's bundled lua51) inside an
environment that holds only those libraries, so a script that calls `string.find`, `math.max` or a
string method (`s:sub`), or that uses Lua 5.2+ syntax, fails here as it would fail in Argo CD.

Why lupa and not a Go harness on gopher-lua: lupa installs from PyPI in seconds into the dev venv and
runs inside pytest (the e2e tests judge live objects with the same function), while a Go harness would be
one more Go build in the test budget. Both are Lua 5.1; the differences that matter here (which
libraries are open, the string metatable) are reproduced below.

Requires the `lupa` package (the `dev` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HEALTH_STATUSES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})

# Lua 5.1 base functions gopher-lua's OpenBase provides, minus file access (dofile, loadfile).
_BASE = (
    "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
    "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall",
    "_VERSION", "print", "setfenv", "getfenv", "load", "loadstring",
)  # fmt: skip
# Argo CD's OpenSafeOs keeps only the clock and date functions of os.
_SAFE_OS = ("time", "date", "clock", "difftime")

_SANDBOX = """
local base_names, os_names = ...
local env = {}
for _, name in ipairs(base_names) do env[name] = _G[name] end
env.table = {}
for k, v in pairs(table) do env.table[k] = v end
env.os = {}
for _, name in ipairs(os_names) do env.os[name] = os[name] end
local modules = { os = env.os, table = env.table }
env.package = { loaded = modules }
env.require = function(name)
  local m = modules[name]
  if m == nil then error("module '" .. tostring(name) .. "' not found") end
  return m
end
env._G = env
-- Without the string library, strings have no metatable in gopher-lua: ("x"):sub(1) fails.
debug.setmetatable("", nil)
return env
"""


@dataclass(frozen=True)
class Health:
    """What Argo CD shows for a resource."""

    status: str
    message: str = ""


def _to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items() if v is not None})
    if isinstance(value, list | tuple):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def evaluate(script: str, obj: dict[str, Any]) -> Health:
    """The health `script` returns for the resource `obj` (a dict as the API server returns it)."""
    from lupa import lua51

    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    env = lua.execute(_SANDBOX, lua.table_from(list(_BASE)), lua.table_from(list(_SAFE_OS)))
    env["obj"] = _to_lua(lua, obj)
    compiled = lua.execute("local chunk, err = loadstring(...); return {chunk, err}", script, "=health.lua")
    chunk = compiled[1]
    if chunk is None:  # loadstring returns nil and the message on a syntax error
        raise SyntaxError(f"health.lua does not compile as Lua 5.1: {compiled[2]}")
    lua.eval("setfenv")(chunk, env)
    returned = chunk()
    if returned is None or lua.eval("type")(returned) != "table":
        raise TypeError(f"health.lua must return a table, got {returned!r}")
    status, message = returned["status"], returned["message"]
    if status not in HEALTH_STATUSES:
        return Health("Unknown", "Lua returned an invalid health status")
    return Health(str(status), "" if message is None else str(message))


@dataclass(frozen=True)
class HealthCase:
    """One entry of Argo CD's health_test.yaml: an input file and the health it must give."""

    input_path: Path
    expected: Health


def load_cases(kind_dir: Path) -> list[HealthCase]:
    """The cases of `<group>/<Kind>/health_test.yaml`, in Argo CD's layout."""
    document = yaml.safe_load((kind_dir / "health_test.yaml").read_text())
    cases = []
    for test in document["tests"]:
        expected = test["healthStatus"]
        cases.append(
            HealthCase(
                input_path=kind_dir / test["inputPath"],
                expected=Health(expected["status"], expected.get("message", "")),
            )
        )
    return cases
