"""The Upload Site's share of the demo practice: one document a client sent."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from core.api import Client, db_session
from plugins.upload_site.models import UploadedFile
from plugins.upload_site.service.intake import max_bytes, stage
from plugins.upload_site.service.records import keep


def one_page_pdf(text: str) -> bytes:
    """A valid one-page PDF that says ``text`` (with a correct cross-reference table)."""
    stream = f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO(b"%PDF-1.4\n")
    out.seek(0, io.SEEK_END)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def seed() -> None:
    session = db_session()
    if session.scalar(select(func.count()).select_from(UploadedFile)):
        return
    client = session.scalars(select(Client).order_by(Client.id).limit(1)).first()
    if client is None:
        return
    staged = stage(
        io.BytesIO(one_page_pdf("Insurance card (demo)")), "insurance-card.pdf", max_bytes()
    )
    [row] = keep(
        [staged], client_id=client.id, via="portal", actor=f"client:{client.id}", note="Demo"
    )
    row.read_at = row.created_at  # reviewed already: the demo's unread counts start at 0
    session.commit()
