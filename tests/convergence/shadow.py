"""The shadow run: the same simulated mailboxes replicated once through EWS and once through
Graph, into two archives, by two complete pipelines reading one simulated Exchange.

Both archives must equal the ground truth (the convergence oracle), and each other: the same
folder trees and the same message metadata in the same folders, deleted and withdrawn alike —
ids aside (an EWS ItemId is not a Graph immutable id, and each pipeline mints its own message
keys), and times aside that say when a pipeline looked rather than what Exchange holds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.convergence.oracle import ArchiveView

# What must be equal between the two archives. Not compared: ids, keys and versions (each
# pipeline's own), when each pipeline noticed a delete or a withdrawal, folder counts (refreshed
# on each pipeline's own schedule), the conversation id (EWS and Graph spell it differently).
# How a message was deleted is compared only where both know: EWS often cannot tell (subscribed
# to all folders, Exchange reports a soft delete as a plain Deleted event and says "Unknown"),
# while Graph's immutable ids let the extractor look where the message went.
FOLDER_FIELDS = ("folder_key", "parent_folder_key", "display_name", "folder_class",
                 "distinguished_name", "deleted")
MESSAGE_FIELDS = ("search_key", "folder_key", "last_known_folder_key", "deleted", "withdrawn",
                  "item_class", "subject", "sender_name", "sender_address", "to_recipients",
                  "cc_recipients", "datetime_sent", "datetime_received", "size", "importance",
                  "sensitivity", "is_read", "flag_status", "categories", "has_attachments",
                  "internet_message_id")


def content(view: ArchiveView) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """Per mailbox, its folders and messages as comparable tuples, sorted."""
    found: dict[str, dict[str, list[tuple[Any, ...]]]] = defaultdict(dict)
    for smtp in set(view.folders) | set(view.messages):
        found[smtp]["folders"] = sorted(
            tuple(_plain(row[f]) for f in FOLDER_FIELDS)
            for row in view.folders.get(smtp, {}).values())
        found[smtp]["messages"] = sorted(
            tuple(_plain(row[f]) for f in MESSAGE_FIELDS)
            for row in view.messages.get(smtp, []) if not row["withdrawn"])
        found[smtp]["withdrawn"] = [("count", sum(1 for row in view.messages.get(smtp, [])
                                                  if row["withdrawn"]))]
    return dict(found)


def _delete_kinds(view: ArchiveView, smtp: str) -> dict[str, str]:
    return {row["search_key"]: row["delete_kind"] for row in view.messages.get(smtp, [])
            if row["deleted"] and row["delete_kind"] not in (None, "Unknown")}


def differences(ews: ArchiveView, graph: ArchiveView, limit: int = 20) -> list[str]:
    """How the Graph-fed archive differs from the EWS-fed one (empty when they agree)."""
    left, right = content(ews), content(graph)
    problems = []
    for smtp in sorted(set(ews.messages) & set(graph.messages)):
        mine, theirs = _delete_kinds(ews, smtp), _delete_kinds(graph, smtp)
        problems += [f"{smtp} message {key} deleted {kind} through EWS, {theirs[key]} through "
                     "Graph" for key, kind in sorted(mine.items())
                     if key in theirs and theirs[key] != kind]
    for smtp in sorted(set(left) | set(right)):
        for part in ("folders", "messages", "withdrawn"):
            a = set(left.get(smtp, {}).get(part, []))
            b = set(right.get(smtp, {}).get(part, []))
            problems += [f"{smtp} {part} only through EWS: {row}" for row in sorted(a - b, key=str)]
            problems += [f"{smtp} {part} only through Graph: {row}"
                         for row in sorted(b - a, key=str)]
    return problems[:limit] + ([f"... and {len(problems) - limit} more"]
                               if len(problems) > limit else [])


def seen_by_both(ews: ArchiveView, graph: ArchiveView) -> ArchiveView:
    """A view that shows a folder or a message as the archives do only where both agree on it,
    so the random user deletes something only once both pipelines have seen it where it is."""
    folders: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for smtp, rows in ews.folders.items():
        theirs = graph.folders.get(smtp, {})
        for key, row in rows.items():
            if key in theirs and ews.folder(smtp, key) == graph.folder(smtp, key):
                folders[smtp][key] = row
    messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for smtp in set(ews.messages) | set(graph.messages):
        shown_ews, shown_graph = ews.shown(smtp), graph.shown(smtp)
        for key in set(shown_ews) | set(shown_graph):
            a, b = shown_ews.get(key, []), shown_graph.get(key, [])
            agree = [r["folder_key"] for r in a] == [r["folder_key"] for r in b]
            messages[smtp] += a if agree else a + b + b
    return ArchiveView(dict(folders), dict(messages))


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
