"""camt.054 (ISO 20022 debit/credit notification) read safely with lxml.

Versions .001.04 (`<Sts>BOOK</Sts>`) and .001.08 (`<Sts><Cd>BOOK</Cd></Sts>`) and their
relatives: elements are found by local name, whatever the namespace version. The parser
resolves no entities, loads no DTD and reaches no network; files over 20 MB are refused.
The PyPI parsers read camt.053 or drop the creditor reference, which is what matching needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

MAX_BYTES = 20 * 1024 * 1024


class CamtError(ValueError):
    """Not a camt.054 file we can read (the message says why)."""


@dataclass(frozen=True)
class Transaction:
    """One payment in a booked (or pending) entry; a batch entry holds several."""

    key: str  # the bank's reference of the transaction (or entry/index): imported once
    entry_ref: str
    booked: bool
    credit: bool
    reversal: bool
    amount: Decimal
    currency: str
    booking_date: date | None
    reference: str | None
    reference_type: str | None  # QRR | SCOR | None


def parse(data: bytes) -> list[Transaction]:
    """Every transaction of the file, in order."""
    if len(data) > MAX_BYTES:
        raise CamtError(f"file larger than {MAX_BYTES // (1024 * 1024)} MB")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise CamtError(f"not well-formed XML: {exc}") from exc
    namespace = etree.QName(root).namespace or ""
    if "camt.054" not in namespace:
        raise CamtError(f"not a camt.054 document (namespace {namespace or 'none'})")
    found: list[Transaction] = []
    for number, entry in enumerate(root.iter("{*}Ntry")):
        found.extend(_transactions(entry, number))
    return found


def _text(node: etree._Element, path: str) -> str | None:
    value = node.findtext(path)
    return value.strip() if value and value.strip() else None


def _amount(node: etree._Element | None) -> tuple[Decimal, str] | None:
    if node is None or not (node.text or "").strip():
        return None
    try:
        return Decimal(node.text.strip()), node.get("Ccy", "")
    except InvalidOperation as exc:
        raise CamtError(f"amount {node.text!r} is not a number") from exc


def _transactions(entry: etree._Element, number: int) -> list[Transaction]:
    status = entry.find("{*}Sts")
    code = (_text(status, "{*}Cd") or (status.text or "").strip()) if status is not None else ""
    entry_ref = _text(entry, "{*}AcctSvcrRef") or _text(entry, "{*}NtryRef") or f"entry-{number}"
    indicator = _text(entry, "{*}CdtDbtInd")
    reversal = (_text(entry, "{*}RvslInd") or "").lower() == "true"
    day = _text(entry, "{*}BookgDt/{*}Dt") or (_text(entry, "{*}BookgDt/{*}DtTm") or "")[:10]
    booking_date = date.fromisoformat(day) if day else None
    entry_amount = _amount(entry.find("{*}Amt"))
    details = entry.findall("{*}NtryDtls/{*}TxDtls")
    result = []
    for index, tx in enumerate(details or [entry]):
        amount = _amount(tx.find("{*}Amt")) or _amount(tx.find("{*}AmtDtls/{*}TxAmt/{*}Amt")) \
            or entry_amount
        if amount is None:
            raise CamtError(f"entry {entry_ref} has no amount")
        creditor_ref = "{*}RmtInf/{*}Strd/{*}CdtrRefInf"
        kind = _text(tx, f"{creditor_ref}/{{*}}Tp/{{*}}CdOrPrtry/{{*}}Prtry") or \
            _text(tx, f"{creditor_ref}/{{*}}Tp/{{*}}CdOrPrtry/{{*}}Cd")
        tx_ref = _text(tx, "{*}Refs/{*}AcctSvcrRef") if tx is not entry else None
        result.append(Transaction(
            key=tx_ref or f"{entry_ref}/{index}", entry_ref=entry_ref, booked=code == "BOOK",
            credit=(_text(tx, "{*}CdtDbtInd") or indicator) == "CRDT", reversal=reversal,
            amount=amount[0], currency=amount[1], booking_date=booking_date,
            reference=_text(tx, f"{creditor_ref}/{{*}}Ref"), reference_type=kind))
    return result
