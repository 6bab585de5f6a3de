"""The one XML parser for input from outside (push bodies, SOAP requests): no entity expansion,
no DTDs, no network, no huge trees, so hostile XML (billion laughs, external entities) is inert."""

from __future__ import annotations

from lxml import etree

HARDENED_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_pis=True,
    collect_ids=False,
)
