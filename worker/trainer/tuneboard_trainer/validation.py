"""The one loader of the TypeScript <-> Python contracts.

Validates a decoded JSON value against a generated JSON Schema (contracts/*.schema.json, written by
`npm run gen:contracts` from the zod schemas) and fills in the defaults. It covers the subset of JSON
Schema that zod's toJSONSchema emits for our schemas; an error names the field the way zod's issue
path does ("lora_target.1") and uses the zod message carried under "x-messages" when there is one.
"""

from __future__ import annotations

import copy
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).parent / "contracts"


class ConfigError(ValueError):
    """Invalid configuration; the message starts with the offending field name."""


class ContractError(ConfigError):
    """A value breaks its contract; `field` is the dotted path ("" for the whole value)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field or 'config'}: {message}")
        self.field = field
        self.message = message


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    """A generated schema by file stem, e.g. "trainer_config"."""
    return json.loads((CONTRACTS_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


def validate(name: str, value: Any) -> Any:
    """A copy of `value` with defaults filled in, or ContractError for the first problem found."""
    return _check(load_schema(name), copy.deepcopy(value), [])


def _fail(schema: dict, keyword: str, path: list, fallback: str):
    messages = schema.get("x-messages", {})
    raise ContractError(".".join(str(p) for p in path), messages.get(keyword) or fallback)


_TYPE_WORDS = {"boolean": "true or false", "string": "text", "array": "a list", "object": "an object",
               "integer": "a whole number", "number": "a number", "null": "null"}


def _is_type(value: Any, t: str) -> bool:
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    # bool is an int subclass in Python; JSON numbers never include true/false.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return t == "number" or (t == "integer" and float(value).is_integer())


def _branch(options: list, value: Any, path: list):
    """For a union of objects told apart by a constant field (zod's discriminated union), that branch."""
    if not isinstance(value, dict):
        return None
    consts = [o.get("properties", {}).get("type", {}).get("const") for o in options]
    if any(c is None for c in consts):
        return None
    chosen = next((option for option, const in zip(options, consts) if value.get("type") == const), None)
    if chosen is None:  # like zod's discriminated union: the discriminator is at fault
        raise ContractError(".".join(str(p) for p in path + ["type"]), f"must be one of {', '.join(consts)}")
    return chosen


def _check(schema: dict, value: Any, path: list) -> Any:
    if "const" in schema and value != schema["const"]:
        _fail(schema, "const", path, f"must be {json.dumps(schema['const'])}")
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            value = _check_union(schema, keyword, value, path)
    if "not" in schema:
        try:
            _check(schema["not"], value, path)
        except ContractError:
            pass
        else:
            _fail(schema, "not", path, "is not allowed")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, t) for t in types):
            if "integer" in types and _is_type(value, "number"):
                _fail(schema, "integer", path, "must be a whole number")
            _fail(schema, "type", path, f"must be {' or '.join(_TYPE_WORDS.get(t, t) for t in types)}")
    if "enum" in schema and value not in schema["enum"]:
        _fail(schema, "enum", path, f"must be one of {', '.join(map(str, schema['enum']))}")
    if _is_type(value, "number"):
        _check_number(schema, value, path)
        if schema.get("type") == "integer" and isinstance(value, float):
            value = int(value)  # JSON's 8.0 is JavaScript's 8: a whole number
    elif isinstance(value, str):
        _check_string(schema, value, path)
    elif isinstance(value, list):
        _check_array(schema, value, path)
    elif isinstance(value, dict):
        _check_object(schema, value, path)
    return value


def _check_union(schema: dict, keyword: str, value: Any, path: list) -> Any:
    options = schema[keyword]
    chosen = _branch(options, value, path)
    if chosen is not None:
        return _check(chosen, value, path)
    # Like zod, a union that fails is reported at its own path; the message is the one of the
    # branch of the value's JSON type, when there is one.
    typed = [o for o in options if "type" in o and _is_type(value, o["type"] if o["type"] != "integer" else "number")]
    first = None
    for option in typed + [o for o in options if o not in typed]:
        try:
            return _check(option, value, path)
        except ContractError as e:
            first = first or e
    # One branch of the value's type (a nullable object, say): its own error, at its own path, as zod
    # reports a failure inside `.nullable()`.
    nullable = all(o.get("type") == "null" for o in options if o not in typed)
    if len(typed) == 1 and nullable and first is not None and keyword not in schema.get("x-messages", {}):
        raise first
    if keyword in schema.get("x-messages", {}):
        _fail(schema, keyword, path, "")
    if not typed and all(isinstance(o.get("type"), str) for o in options):
        words = " or ".join(_TYPE_WORDS.get(o["type"], o["type"]) for o in options)
        raise ContractError(".".join(str(p) for p in path), f"must be {words}")
    raise ContractError(".".join(str(p) for p in path), first.message if first else "invalid value")


def _check_number(schema: dict, value, path: list) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        _fail(schema, "minimum", path, f"must be >= {schema['minimum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        _fail(schema, "exclusiveMinimum", path, f"must be > {schema['exclusiveMinimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        _fail(schema, "maximum", path, f"must be <= {schema['maximum']}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        _fail(schema, "exclusiveMaximum", path, f"must be < {schema['exclusiveMaximum']}")


def _check_string(schema: dict, value: str, path: list) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        _fail(schema, "minLength", path, "must not be empty" if schema["minLength"] == 1 else
              f"must be at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        _fail(schema, "maxLength", path, f"must be at most {schema['maxLength']} characters")
    # zod's regexes are JavaScript ones; ours stay within the syntax both languages share.
    if "pattern" in schema and not re.search(schema["pattern"], value):
        _fail(schema, "pattern", path, f"must match {schema['pattern']}")


def _check_array(schema: dict, value: list, path: list) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        _fail(schema, "minItems", path, f"must have at least {schema['minItems']} item(s)")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        _fail(schema, "maxItems", path, f"must have at most {schema['maxItems']} item(s)")
    if "items" in schema:
        for i, item in enumerate(value):
            value[i] = _check(schema["items"], item, path + [i])


def _check_object(schema: dict, value: dict, path: list) -> None:
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if extra is False:
        unknown = sorted(set(value) - set(props))
        if unknown:
            raise ContractError(".".join(str(p) for p in path + [unknown[0]]), "unknown field")
    elif isinstance(extra, dict):  # a record (z.record): every other key's value follows one schema
        for key in sorted(set(value) - set(props)):
            value[key] = _check(extra, value[key], path + [key])
    for key, sub in props.items():
        if key in value:
            value[key] = _check(sub, value[key], path + [key])
        elif key in schema.get("required", ()):
            raise ContractError(".".join(str(p) for p in path + [key]), "required")
        elif "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
