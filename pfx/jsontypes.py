"""JSON value types shared by every module, so no `Any` crosses a module boundary."""

from __future__ import annotations

from typing import TypeAlias

from pydantic import JsonValue

JSON: TypeAlias = JsonValue
JSONObject: TypeAlias = dict[str, JsonValue]
