"""Reading a YAML file a user wrote, safely: one RecipeError for every way it can be unreadable, a key given
twice refused, and trees too deep or too large (YAML aliases) rejected before anything walks them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from poc_cli.errors import RecipeError, clip
from poc_cli.text_encoding import marked

MAX_DEPTH = 16  # a recipe is about four levels deep
MAX_BYTES = 1 << 20  # a recipe is a few kilobytes: a larger file is not one (and is not read into memory)
MAX_VALUES = 100_000  # YAML aliases can make a small file expand into billions of values


class _RecipeLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error: PyYAML would
    silently keep the last value, and the recipe that runs would not be the one the user reads."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {clip(key_node.value, 40)!r} is given twice", key_node.start_mark)
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def check_shape(raw: object, path: Path) -> None:
    """Reject trees deeper than MAX_DEPTH or larger than MAX_VALUES, walking iteratively (a
    recursive walk, like pydantic's, would overflow the stack on the very input it must reject)."""
    stack: list[tuple[object, str, int]] = [(raw, "", 0)]
    values = 0
    while stack:
        node, where, depth = stack.pop()
        values += 1
        if values > MAX_VALUES:
            raise RecipeError(f"{path}: more than {MAX_VALUES:,} values (YAML aliases expanding?); "
                              "a recipe is a few dozen")
        if depth > MAX_DEPTH:
            raise RecipeError(f"{path}: {clip(where, 80)}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((v, f"{where}.{clip(str(k), 20)}".lstrip("."), depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}.{i}".lstrip("."), depth + 1) for i, v in enumerate(node))


def read_yaml(path: Path) -> object:
    """The recipe file's YAML tree; every way it can be unreadable is one RecipeError."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RecipeError(f"{path}: {path.stat().st_size:,} bytes; a recipe is a few kilobytes of YAML")
        raw = path.read_bytes()
    except OSError as error:
        raise RecipeError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        text = raw.decode("utf-8-sig")  # Notepad's "UTF-8 with BOM" too
    except UnicodeDecodeError:
        found = marked(raw)
        because = f" (it starts with a {found.upper()} byte-order mark)" if found else ""
        raise RecipeError(f"{path}: not a UTF-8 text file{because}; save the recipe as UTF-8") from None
    try:
        return yaml.load(text, Loader=_RecipeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = clip(str(getattr(exc, "problem", None) or exc).splitlines()[0], 120)
        raise RecipeError(f"{path}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise RecipeError(f"{path}: nested more than {MAX_DEPTH} levels deep") from None
