"""The QR-bill PDF: an A4 invoice with the payment part at the bottom.

Rendered with reportlab (the invoice) and svglib (qrbill's payment part, an SVG, drawn onto
the same page): about 0.2 s a page with no system libraries, where cairosvg takes about a
second and needs Debian's cairo. reportlab's Helvetica is one of the fonts the Swiss
guidelines allow for the payment part.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from qrbill import QRBill
from reportlab.graphics import renderPDF
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from svglib.svglib import svg2rlg

from bot.i18n import format_day, format_money, translate
from bot.qrbills import Creditor


@dataclass(frozen=True)
class InvoiceLines:
    """What the invoice lists above the payment part."""

    number: str
    booking_ref: str
    rental: str  # "VW Golf, 10.03.2027 – 14.03.2027"
    total: Decimal
    paid: Decimal
    amount: Decimal  # what this bill asks for
    issued: date
    due: date


def render(bill: QRBill, company: str, creditor: Creditor, lines: InvoiceLines,
           debtor: dict[str, str] | None, language: str) -> bytes:
    """The PDF, one A4 page."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, pageCompression=1)
    page.setTitle(f"{translate('invoice.title', language)} {lines.number}")
    page.setAuthor(company)
    width, height = A4
    _sender(page, company, creditor, height)
    if debtor is not None:
        _address(page, [debtor["name"], f"{debtor['street']} {debtor['house_num']}",
                        f"{debtor['pcode']} {debtor['city']}"], 120 * mm, height - 50 * mm)
    _body(page, creditor, lines, language, height)
    svg = io.StringIO()
    bill.as_svg(svg)
    drawing = svg2rlg(io.BytesIO(svg.getvalue().encode()))
    assert drawing is not None
    scale = width / drawing.width
    drawing.scale(scale, scale)
    renderPDF.draw(drawing, page, 0, 0)
    page.showPage()
    page.save()
    return out.getvalue()


def _sender(page: canvas.Canvas, company: str, creditor: Creditor, height: float) -> None:
    page.setFont("Helvetica-Bold", 13)
    page.drawString(20 * mm, height - 22 * mm, company)
    address = creditor.address
    rows = [f"{address['street']} {address['house_num']}", f"{address['pcode']} {address['city']}"]
    if creditor.vat_number:
        rows.append(creditor.vat_number)
    _address(page, rows, 20 * mm, height - 28 * mm, size=9)


def _address(page: canvas.Canvas, rows: list[str], x: float, y: float, size: int = 10) -> None:
    page.setFont("Helvetica", size)
    for i, row in enumerate(rows):
        page.drawString(x, y - i * (size + 3), row)


def _body(page: canvas.Canvas, creditor: Creditor, lines: InvoiceLines, language: str,
          height: float) -> None:
    def t(key: str, **params: object) -> str:
        return translate(key, language, **params)

    def money(amount: Decimal) -> str:
        return format_money(amount, language)

    top = height - 85 * mm
    page.setFont("Helvetica-Bold", 15)
    page.drawString(20 * mm, top, f"{t('invoice.title')} {lines.number}")
    page.setFont("Helvetica", 10)
    facts = [(t("invoice.date"), format_day(lines.issued, language)),
             (t("invoice.booking"), lines.booking_ref),
             (t("invoice.due"), format_day(lines.due, language))]
    for i, (label, value) in enumerate(facts):
        page.drawString(20 * mm, top - (10 + 5 * i) * mm, label)
        page.drawString(60 * mm, top - (10 + 5 * i) * mm, value)
    rows = [(t("invoice.rental", rental=lines.rental), money(lines.total))]
    if lines.paid:
        rows.append((t("invoice.paid"), f"– {money(lines.paid)}"))
    y = top - 35 * mm
    for label, value in rows:
        page.drawString(20 * mm, y, label)
        page.drawRightString(190 * mm, y, value)
        y -= 6 * mm
    page.line(20 * mm, y + 3.5 * mm, 190 * mm, y + 3.5 * mm)
    page.setFont("Helvetica-Bold", 11)
    page.drawString(20 * mm, y - 1 * mm, t("invoice.amount"))
    page.drawRightString(190 * mm, y - 1 * mm, money(lines.amount))
    page.setFont("Helvetica", 9)
    if creditor.vat_rate is not None:
        vat = (lines.amount * creditor.vat_rate / (100 + creditor.vat_rate)).quantize(Decimal("0.01"))
        page.drawString(20 * mm, y - 8 * mm, t("invoice.vat", rate=f"{creditor.vat_rate}",
                                               vat=money(vat)))
    page.drawString(20 * mm, y - 14 * mm, t("invoice.pay_by", due=format_day(lines.due, language)))
