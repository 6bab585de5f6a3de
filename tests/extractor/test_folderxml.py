"""GetFolder answers read straight from XML mean what exchangelib's object model made of them."""

from __future__ import annotations

import pytest
from exchangelib import Folder
from exchangelib.errors import MalformedResponseError
from exchangelib.fields import FieldPath
from exchangelib.items.base import ID_ONLY
from exchangelib.services import GetFolder
from lxml import etree

from extractor.exchange import FOLDER_FIELDS, MailboxReader, _folder
from extractor.folderxml import snapshot
from extractor.model import FolderSnapshot
from mfr.ews import EwsConnection
from simulator import Simulator

T = "http://schemas.microsoft.com/exchange/services/2006/types"


def test_snapshots_equal_what_exchangelib_reads_from_the_same_folders(
    sim: Simulator, connection: EwsConnection, smtp: str
) -> None:
    """Mail, contacts and classless folders, nested, renamed and moved: the lxml reading and
    exchangelib's ``Folder`` objects agree on every field; a folder gone is left out."""
    projects = sim.control.create_folder(smtp, "inbox", "Projects")
    nested = sim.control.create_folder(smtp, projects, "Grüße <&>")
    people = sim.control.create_folder(smtp, "msgfolderroot", "People", "IPF.Contact")
    plain = sim.control.create_folder(smtp, "msgfolderroot", "Plain", None)
    sim.control.rename_folder(smtp, nested, "Renamed")
    sim.control.move_folder(smtp, plain, projects)
    gone = sim.control.create_folder(smtp, "inbox", "Gone")
    sim.control.delete_folder(smtp, gone)
    ids = [projects, nested, people, plain, sim.control.folder_id(smtp, "inbox")]

    ours = MailboxReader(connection, smtp).folders([*ids, gone])

    account = connection.account(smtp)
    fields = {FieldPath(field=Folder.get_field_by_fieldname(n)) for n in FOLDER_FIELDS}
    theirs = {f.id: _folder(f) for f in GetFolder(account=account).call(
        folders=[Folder(root=account.root, id=i) for i in ids], additional_fields=fields,
        shape=ID_ONLY)}
    assert ours == theirs
    assert set(ours) == set(ids)
    assert ours[projects].child_folder_count == 2
    assert ours[plain].parent_folder_id == projects


def test_edge_values_read_as_exchangelib_reads_them() -> None:
    """An empty name is "", an empty class absent, counts are numbers; no FolderId is an error
    naming the element, not a snapshot keyed None."""
    elem = etree.fromstring(
        f'<t:Folder xmlns:t="{T}"><t:FolderId Id="F1" ChangeKey="CK"/>'
        f'<t:ParentFolderId Id="P"/><t:FolderClass/><t:DisplayName/>'
        f"<t:TotalCount>7</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount></t:Folder>")
    assert snapshot(elem) == FolderSnapshot(
        folder_id="F1", parent_folder_id="P", display_name="", folder_class=None,
        change_key="CK", total_count=7, unread_count=None, child_folder_count=0)
    with pytest.raises(MalformedResponseError, match="Folder without a FolderId"):
        snapshot(etree.fromstring(f'<t:Folder xmlns:t="{T}"><t:DisplayName>x</t:DisplayName>'
                                  f"</t:Folder>"))
