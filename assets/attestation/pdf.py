"""The attestation as PDF: the same sections, tables and charts as the HTML, laid out by reportlab.

Deterministic: `invariant` fixes the creation date and the document id that reportlab would otherwise take from
the clock, the fonts are the PDF standard fonts (nothing embedded, nothing depending on the machine), and the
charts are the PNGs of `assets.attestation.charts`.
"""
from __future__ import annotations

import io
from html import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from assets.attestation.document import Attestation
from assets.attestation.document import Table as ReportTable

PAGE = landscape(A4)
MARGIN = 12 * mm
INK = colors.HexColor("#1d2433")
RULE = colors.HexColor("#d0d7e2")

_styles = getSampleStyleSheet()
TITLE = ParagraphStyle("title", parent=_styles["Title"], alignment=0, fontSize=18, spaceAfter=4, textColor=INK)
HEADING = ParagraphStyle("heading", parent=_styles["Heading2"], fontSize=12, spaceBefore=10, spaceAfter=4,
                         textColor=INK)
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontSize=8.5, leading=11, textColor=INK)
NOTE = ParagraphStyle("note", parent=BODY, textColor=colors.HexColor("#56607a"))
CELL = ParagraphStyle("cell", parent=BODY, fontSize=7.5, leading=9)
CELL_NUM = ParagraphStyle("cell_num", parent=CELL, alignment=TA_RIGHT)
# Hashes and addresses break anywhere, not only at spaces.
CELL_CODE = ParagraphStyle("cell_code", parent=CELL, fontName="Courier", fontSize=6.5, wordWrap="CJK")
HEAD = ParagraphStyle("head", parent=CELL, fontName="Helvetica-Bold")
HEAD_NUM = ParagraphStyle("head_num", parent=HEAD, alignment=TA_RIGHT)
VERDICT = ParagraphStyle("verdict", parent=BODY, fontName="Helvetica-Bold", fontSize=10, leading=13, borderPadding=6,
                         spaceBefore=6, spaceAfter=8)


def _paragraph(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


# Reportlab's default cell padding, left and right.
CELL_PADDING = 6


def _cell(text: str, style: ParagraphStyle, width: float) -> str | Paragraph:
    """A cell that fits on one line is a plain string the table draws in its column's font; only a cell that must
    wrap is a Paragraph (laying out one costs ~40 µs: a loan book of thousands of rows spent seconds on them)."""
    if "\n" not in text and stringWidth(text, style.fontName, style.fontSize) <= width - 2 * CELL_PADDING:
        return text
    return _paragraph(text, style)


def _table(table: ReportTable, width: float) -> Table:
    header = [_paragraph(c, HEAD_NUM if i in table.numeric else HEAD) for i, c in enumerate(table.columns)]
    # Code columns (hashes, addresses) take the room they need; the rest share what is left.
    weights = [2.6 if i in table.code else 1.0 for i in range(len(table.columns))]
    widths = [width * w / sum(weights) for w in weights]
    cell_styles = [CELL_NUM if i in table.numeric else CELL_CODE if i in table.code else CELL
                   for i in range(len(table.columns))]
    body = [[_cell(cell, cell_styles[i], widths[i]) for i, cell in enumerate(row)] for row in table.rows]
    if not body:
        body = [[_paragraph(table.empty, CELL)] + [""] * (len(table.columns) - 1)]
    # How the table draws a plain cell: as the Paragraph styles would.
    plain = [("FONT", (i, 1), (i, -1), cell_styles[i].fontName, cell_styles[i].fontSize, cell_styles[i].leading)
             for i in range(len(table.columns))]
    plain += [("ALIGN", (i, 1), (i, -1), "RIGHT") for i in table.numeric]
    plain.append(("TEXTCOLOR", (0, 1), (-1, -1), INK))
    style = [
        *plain,
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f5f7fa")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if not table.rows:
        style.append(("SPAN", (0, 1), (-1, 1)))
    if table.total_row and table.rows:
        style.append(("LINEABOVE", (0, -1), (-1, -1), 1.0, colors.HexColor("#8793a8")))
    result = Table([header, *body], colWidths=widths, repeatRows=1, hAlign="LEFT")
    result.setStyle(TableStyle(style))
    return result


def render_pdf(attestation: Attestation) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=MARGIN,
        title=attestation.title, author="backed", subject="Reserve attestation", creator="backed",
        keywords=f"backed-manifest-sha256:{attestation.digest} backed-period:{attestation.period}",
        invariant=1,
    )
    width = PAGE[0] - 2 * MARGIN
    if attestation.period_label:
        heading = attestation.title
        measured = (f"USDai, month {attestation.period_label}, month-end measured at the close of its last ledger day "
                    f"{attestation.day.isoformat()} (end of day, UTC).")
    else:
        heading = "Reserve attestation"
        measured = f"USDai, measurement date {attestation.day.isoformat()} (end of day, UTC)."
    story = [
        _paragraph(heading, TITLE),
        _paragraph(f"{measured} Reporting entity: the protocol, consolidated. Prepared under the AICPA 2025 criteria "
                   "for stablecoin reporting.", BODY),
        _verdict(attestation.verdict, "#e6f4ea" if attestation.verdict_ok else "#fde8e8"),
    ]
    if attestation.override_text:
        lines = [attestation.override_text, *attestation.overridden_blockers]
        story.append(_verdict("\n".join(lines), "#fde8e8", border="#c0392b"))
    for section in attestation.sections:
        block = [_paragraph(section.title, HEADING)]
        if section.intro:
            block.append(_paragraph(section.intro, BODY))
        flowables = []
        for key in section.charts:
            chart = attestation.charts[key]
            image = Image(io.BytesIO(chart.png))
            # at most the page's height: a taller chart would stop the PDF (reportlab's LayoutError)
            scale = min(1.0, (width * 0.55) / image.imageWidth, (PAGE[1] - 2 * MARGIN) * 0.9 / image.imageHeight)
            image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
            image.hAlign = "LEFT"
            flowables += [image, Spacer(1, 4)]
        for table in section.tables:
            flowables += [_table(table, width), Spacer(1, 6)]
        flowables += [_paragraph(note, NOTE) for note in section.notes]
        # The heading stays with the start of its section.
        story.append(KeepTogether(block + flowables[:1]))
        story += flowables[1:]
    document.build(story, onFirstPage=_footer(attestation), onLaterPages=_footer(attestation))
    return buffer.getvalue()


def _verdict(text: str, background: str, border: str | None = None) -> Paragraph:
    style = ParagraphStyle("verdict_box", parent=VERDICT, backColor=colors.HexColor(background),
                           borderColor=colors.HexColor(border) if border else None, borderWidth=1 if border else 0)
    return Paragraph("<br/>".join(escape(line) for line in text.split("\n")), style)


def _footer(attestation: Attestation):
    def draw(canvas, document) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.HexColor("#56607a"))
        canvas.drawString(MARGIN, 6 * mm, f"{attestation.title} | manifest sha256 {attestation.digest}")
        canvas.drawRightString(PAGE[0] - MARGIN, 6 * mm, f"page {document.page}")
        canvas.restoreState()

    return draw
