"""Microsoft's Graph v1.0 metadata (CSDL), parsed once, and what an ``@odata.context`` names.

The CSDL (3.4 MB) is parsed with lxml once per process into plain dictionaries: entity and
complex types with their own properties (navigation ones included) and base type, enum types
with their member names, and the EntityContainer's entity sets and singletons. Type names are
resolved through each schema's alias (``graph.message``), without a namespace (``message``, as
Graph's own context URLs say ``#Collection(message)``), and case-insensitively (Outlook's
notifications spell ``#Microsoft.Graph.Message``; resourcedata.md); they come back as the CSDL
spells them.

A context URL (OData JSON Format 4.01 §10) is walked from its first segment, an entity set,
singleton, ``Collection(type)`` or type, through keys (``('id')``: one entity), select lists
(``(subject,from)``: no change), navigation and structural properties, casts (a qualified name)
and ``$entity`` / ``$delta``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

CSDL_PATH = Path(__file__).resolve().parents[4] / "shared/reference/graph/metadata/v1.0-Prod.csdl"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


class CsdlError(AssertionError):
    """A body that does not fit the CSDL (an AssertionError, so pytest reports it as a failure)."""


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A type as a property, entity set or context names it: qualified name, collection or not,
    and whether null is allowed (for a collection: for its items)."""

    name: str
    collection: bool = False
    nullable: bool = True


@dataclass(slots=True)
class Structured:
    """An entity or complex type with its own declared properties (navigation included)."""

    name: str
    base: str | None
    own: dict[str, TypeRef] = field(default_factory=dict)


class Model:
    """The CSDL's types, enums and container (entity sets and singletons by lower-cased name)."""

    def __init__(self, path: Path) -> None:
        root = etree.parse(str(path)).getroot()
        schemas = list(root.iter(f"{EDM}Schema"))
        self._aliases: dict[str, str] = {}
        for schema in schemas:
            namespace = schema.get("Namespace", "")
            self._aliases[namespace.lower()] = namespace
            if schema.get("Alias"):
                self._aliases[str(schema.get("Alias")).lower()] = namespace
        # Lower-cased qualified name -> as the CSDL spells it, for case-insensitive lookups.
        self._spelled = {
            f"{schema.get('Namespace')}.{node.get('Name')}".lower(): (
                f"{schema.get('Namespace')}.{node.get('Name')}"
            )
            for schema in schemas
            for node in schema
            if etree.QName(node).localname in ("EntityType", "ComplexType", "EnumType")
        }
        self.types: dict[str, Structured] = {}
        self.enums: dict[str, tuple[frozenset[str], bool]] = {}
        self.sources: dict[str, TypeRef] = {}
        for schema in schemas:
            self._load(schema, schema.get("Namespace", ""))
        self._all: dict[str, dict[str, TypeRef]] = {}

    def _load(self, schema: etree._Element, namespace: str) -> None:
        for node in schema:
            tag = etree.QName(node).localname
            name = f"{namespace}.{node.get('Name')}"
            if tag in ("EntityType", "ComplexType"):
                base = node.get("BaseType")
                shape = Structured(name, self.qualify(base) if base else None)
                for prop in node:
                    if etree.QName(prop).localname in ("Property", "NavigationProperty"):
                        shape.own[str(prop.get("Name"))] = self.ref(
                            str(prop.get("Type")), prop.get("Nullable") != "false"
                        )
                self.types[name] = shape
            elif tag == "EnumType":
                members = frozenset(str(m.get("Name")) for m in node.iter(f"{EDM}Member"))
                self.enums[name] = (members, node.get("IsFlags") == "true")
            elif tag == "EntityContainer":
                for source in node:
                    kind = etree.QName(source).localname
                    if kind == "EntitySet":
                        ref = TypeRef(self.qualify(str(source.get("EntityType"))), True)
                        self.sources[str(source.get("Name")).lower()] = ref
                    elif kind == "Singleton":
                        ref = TypeRef(self.qualify(str(source.get("Type"))), False)
                        self.sources[str(source.get("Name")).lower()] = ref

    def qualify(self, name: str) -> str:
        """A type name in any case, with its alias (``graph.``) or no namespace, as the CSDL
        spells it qualified (unknown names come back qualified as given)."""
        name = name.lstrip("#")
        if name.lower().startswith("edm."):
            return "Edm." + name[4:]
        prefix, dot, short = name.rpartition(".")
        namespace = self._aliases.get(prefix.lower()) if dot else "microsoft.graph"
        full = f"{namespace or prefix}.{short}"
        return self._spelled.get(full.lower(), full)

    def ref(self, spelled: str, nullable: bool = True) -> TypeRef:
        """A TypeRef for ``Collection(graph.x)`` or ``graph.x`` as the CSDL spells it."""
        if spelled.startswith("Collection(") and spelled.endswith(")"):
            return TypeRef(self.qualify(spelled[11:-1]), True, nullable)
        return TypeRef(self.qualify(spelled), False, nullable)

    def known(self, name: str) -> bool:
        """Whether a qualified name is a type of the model."""
        return name in self.types or name in self.enums or name.startswith("Edm.")

    def properties(self, name: str) -> dict[str, TypeRef]:
        """Every property of a structured type, inherited ones included."""
        found = self._all.get(name)
        if found is None:
            shape = self.types[name]
            found = dict(self.properties(shape.base)) if shape.base else {}
            found.update(shape.own)
            self._all[name] = found
        return found

    def derives(self, name: str, ancestor: str) -> bool:
        """Whether type ``name`` is ``ancestor`` or derives from it."""
        current: str | None = name
        while current is not None:
            if current == ancestor:
                return True
            current = self.types[current].base if current in self.types else None
        return False


@functools.cache
def model() -> Model:
    """The v1.0 CSDL, parsed once per process."""
    if not CSDL_PATH.is_file():
        raise RuntimeError(f"the Graph v1.0 CSDL is not at {CSDL_PATH}")
    return Model(CSDL_PATH)


def context_type(graph: Model, context: Any) -> TypeRef:
    """The type an ``@odata.context`` URL describes (OData JSON Format §10)."""
    if not isinstance(context, str) or "$metadata#" not in context:
        raise CsdlError(f"@odata.context {context!r} is not a metadata URL")
    fragment = context.split("$metadata#", 1)[1]
    segments = _segments(fragment)
    head, parens = segments[0]
    if head.lower() == "collection" and parens is not None:
        return TypeRef(graph.qualify(parens), True)
    current = graph.sources.get(head.lower())
    if current is None:
        qualified = graph.qualify(head)
        if not graph.known(qualified):
            raise CsdlError(f"@odata.context {context!r}: no entity set or type {head!r}")
        current = TypeRef(qualified, False)
    current = _keyed(current, parens)
    for name, parens in segments[1:]:
        if name == "$entity":
            current = TypeRef(current.name, False)
        elif name == "$delta":
            current = TypeRef(current.name, True)
        elif "." in name:
            current = TypeRef(graph.qualify(name), current.collection)
        else:
            props = graph.properties(current.name) if current.name in graph.types else {}
            if name not in props:
                raise CsdlError(f"@odata.context {context!r}: {current.name} has no {name!r}")
            current = _keyed(props[name], parens)
    return current


def _keyed(ref: TypeRef, parens: str | None) -> TypeRef:
    """A key (``('x')``) picks one; a select list (``(subject,from)``) changes nothing."""
    keyed = parens is not None and (parens[:1] == "'" or parens.isdigit())
    return TypeRef(ref.name, False) if keyed else ref


def _segments(fragment: str) -> list[tuple[str, str | None]]:
    """Split a context fragment on ``/`` outside parentheses and quotes; each segment is its
    name and the text in its parentheses, if any."""
    found: list[tuple[str, str | None]] = []
    name, inner, depth, quoted = "", "", 0, False
    has_parens = False
    for char in fragment + "/":
        if char == "'" and depth:
            quoted = not quoted
        if char == "/" and not depth and not quoted:
            found.append((name, inner if has_parens else None))
            name, inner, has_parens = "", "", False
        elif char == "(" and not quoted:
            depth += 1
            if depth > 1:
                inner += char
            has_parens = True
        elif char == ")" and not quoted:
            depth -= 1
            if depth:
                inner += char
        elif depth:
            inner += char
        else:
            name += char
    return found
