"""The simulator's ground truth in Graph's ids, so ``tests.extractor.truth.problems`` judges a
Graph replica as it judges an EWS one: folders by their Graph id (the EWS id in URL-safe base64),
live messages by their immutable id."""

from __future__ import annotations

import copy
from typing import Any

from simulator import Simulator
from simulator.graph.ids import to_graph


def graph_truth(sim: Simulator, smtp: str) -> dict[str, Any]:
    """``sim.ground_truth(smtp)`` with every id as Graph spells it."""
    truth = copy.deepcopy(sim.ground_truth(smtp))
    for folder in truth["folders"]:
        folder["id"] = to_graph(folder["id"])
        if folder.get("parent_id"):
            folder["parent_id"] = to_graph(folder["parent_id"])
    for item in truth["items"]:
        if not item["deleted"] or item["deleted"].get("now_in"):
            item["id"] = sim.graph.message_ids(smtp, item["id"])["immutableId"]
        item["folder_id"] = to_graph(item["folder_id"])
        if item["deleted"]:
            item["deleted"]["from_folder_id"] = to_graph(item["deleted"]["from_folder_id"])
    return truth


def folder(sim: Simulator, smtp: str, name: str) -> str:
    """A folder's Graph id, by name, path or EWS id."""
    return to_graph(sim.control.folder_id(smtp, name))


def immutable(sim: Simulator, smtp: str, item_id: str) -> str:
    """A live message's immutable id, from the control API's EWS id."""
    return sim.graph.message_ids(smtp, item_id)["immutableId"]
