"""Checking response bodies against Microsoft's messages.xsd."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from lxml import etree

from simulator.errors import SimulatorError


class ResponseValidator:
    """Validates the element inside a response's SOAP Body against messages.xsd; remembers every
    failure so a test can assert there were none."""

    def __init__(self, schema_dir: Path) -> None:
        path = schema_dir / "messages.xsd"
        if not path.is_file():
            raise SimulatorError(f"no messages.xsd in {schema_dir}")
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        self._schema = etree.XMLSchema(etree.parse(str(path), parser))
        self._lock = threading.Lock()
        self.failures: list[str] = []

    def check(self, element: etree._Element) -> str | None:
        """None when ``element`` is valid, else the first error (also recorded in ``failures``)."""
        detached = copy.deepcopy(element)
        with self._lock:
            if self._schema.validate(detached):
                return None
            lines = str(self._schema.error_log).splitlines()
            where = lines[0] if lines else "invalid"
            text = f"{etree.QName(element).localname}: {where}"
            self.failures.append(text)
            return text
