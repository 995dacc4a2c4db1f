"""HUBTUI_KEYMAP checked before the screen starts: a wrong id or key would otherwise be silently ignored."""

from __future__ import annotations

import importlib
import pkgutil
import string

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import Keys, _character_to_key

from hubtui.config import SettingsError

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
# Key names Textual sends: its named keys (without modifiers) and the names of the printable characters.
KEY_NAMES = frozenset(
    {key.value.rsplit("+", 1)[-1] for key in Keys if not key.value.startswith("<")}
    | {_character_to_key(char) for char in string.printable if char.isprintable()}
    | set(string.ascii_letters + string.digits)
)


def parse_keymap(value: str) -> dict[str, str]:
    """`HUBTUI_KEYMAP="customers.sort=f9;app.quit=ctrl+x"` → {binding id: keys}; SettingsError names a
    malformed pair."""
    keymap: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(";"))):
        binding_id, sep, keys = (part.strip() for part in item.partition("="))
        if not sep or not binding_id or not keys:
            raise _invalid(f"'{item}' is not id=key (e.g. customers.sort=f9; ids are shown in F1)")
        keymap[binding_id] = keys
    return keymap


def _invalid(problem: str) -> SettingsError:
    return SettingsError(f"invalid setting HUBTUI_KEYMAP: {problem}")


def _known_key(key: str) -> bool:
    *modifiers, name = key.split("+")
    return bool(name) and name in KEY_NAMES and all(modifier in MODIFIERS for modifier in modifiers)


def all_bindings() -> dict[str, Binding]:
    """Every binding with an id in hubtui's screens, widgets and app, by id."""
    from hubtui.tui import app, screens, widgets

    nodes: list[type[DOMNode]] = [app.HubApp]
    for package in (screens, widgets):
        for module_info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(module_info.name)
            nodes.extend(value for value in vars(module).values() if isinstance(value, type)
                         and issubclass(value, DOMNode) and value.__module__ == module.__name__)
    found: dict[str, Binding] = {}
    for node in nodes:
        for binding in vars(node).get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                found[binding.id] = binding
    return found


def _keys(keys: str) -> set[str]:
    return {key.strip() for key in keys.split(",")}


def _scope(binding_id: str) -> str:
    """Ids are screen.action: bindings that share the part before the dot are on the same screen."""
    return binding_id.split(".", 1)[0]


def check_keymap(value: str) -> dict[str, str]:
    """The keymap, or SettingsError in one line naming the first unknown id, unknown key, malformed pair, or
    a key another binding on the same screen (or the app) already uses."""
    keymap = parse_keymap(value)
    bindings = all_bindings()
    for binding_id, keys in keymap.items():
        if binding_id not in bindings:
            raise _invalid(f"no binding has the id '{binding_id}' (F1 shows each key's id)")
        for key in keys.split(","):
            if not _known_key(key.strip()):
                raise _invalid(f"'{key.strip()}' in {binding_id}={keys} is not a key name (e.g. f9, ctrl+x, a)")
    keys_now = {binding_id: keymap.get(binding_id, binding.key) for binding_id, binding in bindings.items()}
    for binding_id, keys in keymap.items():
        scope = _scope(binding_id)
        for other_id, other_keys in keys_now.items():
            if other_id == binding_id or (scope != "app" and _scope(other_id) not in (scope, "app")):
                continue
            # Only keys the binding did not have already: its own defaults may be shared on purpose (F1 closes F1).
            added = _keys(keys) - _keys(bindings[binding_id].key)
            shared = added & _keys(other_keys)
            if shared:
                raise _invalid(f"{binding_id}={keys}: {', '.join(sorted(shared))} is already {other_id}; "
                               "pick a free key")
    return keymap
