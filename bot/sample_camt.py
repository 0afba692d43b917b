"""camt.054 files as Swiss banks send them: the sandbox bank, the tests (ISO 20022 .001.04 and .08).

Built from the standard's structure: Document/BkToCstmrDbtCdtNtfctn/Ntfctn/Ntry with
NtryDtls/TxDtls per payment (a batch entry holds several), RmtInf/Strd/CdtrRefInf for the
QRR or SCOR reference, `<Sts>BOOK</Sts>` in .04 and `<Sts><Cd>BOOK</Cd></Sts>` in .08.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape


@dataclass
class Tx:
    """One payment inside an entry."""

    amount: str
    reference: str | None = None
    kind: str | None = None  # QRR | SCOR (derived from the reference when None)
    bank_ref: str | None = None
    debtor: str = "Anna Müller"


@dataclass
class Entry:
    """A booked (or pending) entry on the account: one payment or a batch."""

    bank_ref: str
    txs: list[Tx] = field(default_factory=list)
    currency: str = "CHF"
    credit: bool = True
    reversal: bool = False
    status: str = "BOOK"
    day: str = "2027-03-09"


def _reference(tx: Tx) -> str:
    if tx.reference is None:
        return ""
    kind = tx.kind or ("SCOR" if tx.reference.startswith("RF") else "QRR")
    code = f"<Cd>{kind}</Cd>" if kind == "SCOR" else f"<Prtry>{kind}</Prtry>"
    return (f"<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry>{code}</CdOrPrtry></Tp>"
            f"<Ref>{escape(tx.reference)}</Ref></CdtrRefInf></Strd></RmtInf>")


def _tx(tx: Tx, entry: Entry, version: str) -> str:
    debtor = f"<Dbtr><Pty><Nm>{escape(tx.debtor)}</Nm></Pty></Dbtr>" if version == "08" \
        else f"<Dbtr><Nm>{escape(tx.debtor)}</Nm></Dbtr>"
    refs = f"<Refs><AcctSvcrRef>{tx.bank_ref}</AcctSvcrRef></Refs>" if tx.bank_ref else ""
    indicator = "CRDT" if entry.credit else "DBIT"
    return (f"<TxDtls>{refs}<Amt Ccy=\"{entry.currency}\">{tx.amount}</Amt>"
            f"<CdtDbtInd>{indicator}</CdtDbtInd><RltdPties>{debtor}</RltdPties>"
            f"{_reference(tx)}</TxDtls>")


def camt054(entries: list[Entry], version: str = "08", message_id: str = "MSG-1") -> bytes:
    """A camt.054 document with these entries."""
    body = []
    for entry in entries:
        total = sum(float(t.amount) for t in entry.txs)
        status = f"<Sts><Cd>{entry.status}</Cd></Sts>" if version == "08" \
            else f"<Sts>{entry.status}</Sts>"
        batch = f"<Btch><NbOfTxs>{len(entry.txs)}</NbOfTxs></Btch>" if len(entry.txs) > 1 else ""
        body.append(
            f"<Ntry><Amt Ccy=\"{entry.currency}\">{total:.2f}</Amt>"
            f"<CdtDbtInd>{'CRDT' if entry.credit else 'DBIT'}</CdtDbtInd>"
            f"<RvslInd>{'true' if entry.reversal else 'false'}</RvslInd>{status}"
            f"<BookgDt><Dt>{entry.day}</Dt></BookgDt><ValDt><Dt>{entry.day}</Dt></ValDt>"
            f"<AcctSvcrRef>{entry.bank_ref}</AcctSvcrRef>"
            f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>VCOM</SubFmlyCd></Fmly>"
            f"</Domn></BkTxCd><NtryDtls>{batch}"
            + "".join(_tx(t, entry, version) for t in entry.txs) + "</NtryDtls></Ntry>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.{version}">'
            f"<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>{message_id}</MsgId>"
            f"<CreDtTm>2027-03-09T18:00:00</CreDtTm></GrpHdr><Ntfctn><Id>{message_id}-1</Id>"
            f"<CreDtTm>2027-03-09T18:00:00</CreDtTm><Acct><Id><IBAN>CH4431999123000889012</IBAN>"
            f"</Id></Acct>" + "".join(body) + "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
            ).encode()
