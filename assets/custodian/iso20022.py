"""Custodian statements in ISO 20022: `semt.002` (statement of holdings) and `camt.053` (cash statement), read into
the rows of the custodian statement (the columns of the custodian CSV, docs/lake.md).

Parsing is safe by construction: defusedxml refuses any DTD (so no entity expansion, no external entity, no
network), and the document's size is bounded before it is parsed. The message and its version come from the
document's namespace (`urn:iso:std:iso:20022:tech:xsd:semt.002.001.11`). Versions differ in a few places only, and
each difference has one reading, whichever versions share it (from the ISO 20022 message definitions):
- semt.002: the account servicer's BIC is `AcctSvcr/BICOrBEI` in .03, `AcctSvcr/AnyBIC` in .04-.08 and
  `AcctSvcr/Id/AnyBIC` from .09; the security's ISIN and other identifier sit under `FinInstrmId/Id` in .03 (the
  identifier's scheme in `OthrId/IdSrc`), directly under `FinInstrmId` from .04 (its scheme in `OthrId/Tp`).
- camt.053: the servicer's BIC is `FinInstnId/BIC` in .02, `BICFI` from .03; an entry's status is text in .02-.06
  and `Sts/Cd` from .07; a security in .02 is `ISIN` or `Prtry`, with no description (it travels in
  `AddtlTxInf`); .02 paginates in `GrpHdr/MsgPgntn`, later versions in `Stmt/StmtPgntn`.

Which element is which statement field (the custodian profile, docs/lake.md):
- semt.002: one `holding` per `BalForAcct`: CUSIP from `OthrId` of scheme `CUSP` (or a US ISIN's characters 3-11),
  `Desc`, `FinInstrmAttrbts/MtrtyDt`, par = the face amount of `AggtBal/Qty/Qty/Qty/FaceAmt` (or
  `OrgnlAndCurFace/FaceAmt`; a holding counted in units has no par), price = the market price's `Val/Rate` (per 100
  of par), market value = `AcctBaseCcyAmts/HldgVal/Amt`. Statement date and cut-off from `StmtGnlDtls/StmtDtTm`,
  account `SfkpgAcct/Id`, custodian by the account servicer's BIC.
- camt.053: `opening_cash` / `closing_cash` from the `OPBD` / `CLBD` balances, one `transaction` per booked
  `Ntry`, its type from the bank transaction code: `PMNT/RCDT/*` credit = `cash_receipt` (the on-chain tx hash in
  `RmtInf/Ustrd`), `SECU/SETT/*` debit = `tbill_purchase`, `SECU/CORP/REDM` or `SECU/SETT/*` credit =
  `tbill_maturity` (CUSIP from `TxDtls/FinInstrmId`, par from `TxDtls/RltdQties/Qty/FaceAmt`, the trade id in
  `AcctSvcrRef`, the description in `FinInstrmId/Desc` or `TxDtls/AddtlTxInf`). Cut-off = `FrToDt/ToDtTm` (else
  the statement's `CreDtTm`), kept in UTC; statement date = the `CLBD` balance's date (else the cut-off's date as
  the custodian wrote it, in its own zone: a New York statement of 8 March at 23:30-04:00 is 8 March's). Account
  `Acct/Id/Othr/Id` or `IBAN`, custodian by `Acct/Svcr` BIC.

A file may hold several `Document`s (inside an envelope): the pages of one statement are read as one statement;
Documents of different messages, accounts or days are each a statement of their own, which intake takes in as
separate files (`separate_documents`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from xml.etree.ElementTree import Element, ParseError, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from assets.inbox.document_tables import MAX_DOCUMENT_BYTES, UnreadableFile
from assets.inbox.row_validation import is_decimal_text
from assets.source import SEVERAL_DOCUMENTS

ISO20022_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:"
HOLDINGS_MESSAGE, CASH_MESSAGE = "semt.002", "camt.053"
SUPPORTED_VERSIONS = {
    HOLDINGS_MESSAGE: tuple(f"semt.002.001.{number:02d}" for number in range(3, 12)),
    CASH_MESSAGE: tuple(f"camt.053.001.{number:02d}" for number in range(2, 14)),
}
_BIC_ELEMENTS = ("AnyBIC", "BICFI", "BIC", "BICOrBEI")
_CUSIP_SCHEMES = ("CUSP", "CUSIP")
# semt.002.001.03's `OthrId/IdSrc/Dmst` names the country whose domestic identifier it is: a US one is a CUSIP.
_CUSIP_COUNTRY = "US"


@dataclass
class StatementMessage:
    message: str  # `semt.002.001.11`
    servicer_bic: str | None
    records: list[dict[str, str | None]]  # statement fields as text, document order
    problems: list[tuple[int, str, str, str]] = field(default_factory=list)  # (record, field, value, reason)
    stated_holdings_total: str | None = None  # semt.002's own total of the holdings' value


def message_of(content: bytes) -> str | None:
    """The ISO 20022 message and version of a document (`camt.053.001.08`), None when not ISO 20022."""
    namespace = _namespace(_documents(_parse(content))[0].tag)
    return namespace.removeprefix(ISO20022_NAMESPACE) if namespace.startswith(ISO20022_NAMESPACE) else None


def statement_page(content: bytes) -> str | None:
    """The page number of a paginated statement (semt.002 `Pgntn/PgNb`, camt.053 `Stmt/StmtPgntn/PgNb` or, in .02,
    `GrpHdr/MsgPgntn/PgNb`): the pages of one statement are parts of it, not versions of each other. A file holding
    several pages is known by its first."""
    pages = [page for page in map(_page_of, _documents(_parse(content))) if page is not None]
    return min(pages, key=lambda page: (len(page), page)) if pages else None


def _page_of(document: Element) -> str | None:
    reader = _Reader(_namespace(document.tag))
    return (reader.text(document, "SctiesBalCtdyRpt/Pgntn/PgNb")
            or reader.text(document, "BkToCstmrStmt/Stmt/StmtPgntn/PgNb")
            or reader.text(document, "BkToCstmrStmt/GrpHdr/MsgPgntn/PgNb"))


def read_statement_message(content: bytes) -> StatementMessage:
    """The statement's records; UnreadableFile for an unsafe or malformed document or an unsupported message."""
    documents = _documents(_parse(content))
    if len(documents) == 1:
        return _read_document(documents[0])
    return _pages_of_one_statement([_read_document(document) for document in documents],
                                    [_page_of(document) for document in documents])


def separate_documents(content: bytes) -> list[bytes]:
    """Each `Document` of a file that holds several, as a document of its own (its envelope and header left
    behind: what the statement says is in the Document)."""
    try:
        documents = _documents(_parse(content))
    except UnreadableFile:
        return []
    if len(documents) < 2 or any(_local(document.tag) != "Document" for document in documents):
        return []
    return [_standalone(document) for document in documents]


def _standalone(document: Element) -> bytes:
    try:
        return tostring(document, encoding="UTF-8", xml_declaration=True,
                        default_namespace=_namespace(document.tag)) + b"\n"
    except ValueError:  # an element outside the message's namespace: written with prefixes, read the same
        return tostring(document, encoding="UTF-8", xml_declaration=True) + b"\n"


def _read_document(document: Element) -> StatementMessage:
    namespace = _namespace(document.tag)
    if not namespace.startswith(ISO20022_NAMESPACE):
        raise UnreadableFile("unknown_xml_namespace", "", namespace or "(no namespace)")
    message = namespace.removeprefix(ISO20022_NAMESPACE)
    kind = message[:8]
    if kind not in SUPPORTED_VERSIONS:
        raise UnreadableFile("unsupported_message", "", f"{message}: not a semt.002 or camt.053 statement")
    if message not in SUPPORTED_VERSIONS[kind]:
        supported = SUPPORTED_VERSIONS[kind]
        raise UnreadableFile("unsupported_message_version", "", f"{message}; supported: {supported[0]} to {supported[-1]}")
    reader = _Reader(namespace)
    return reader.holdings(document, message) if kind == HOLDINGS_MESSAGE else reader.cash(document, message)


def _pages_of_one_statement(messages: list[StatementMessage], pages: list[str | None]) -> StatementMessage:
    """Several documents of one file read as one statement, when they are its pages: one message, account and day,
    each page once, one servicer and one statement total. Otherwise the file is refused, saying what differs."""
    def refused(what: str, values) -> UnreadableFile:
        shown = ", ".join(sorted(str(value) for value in values))
        return UnreadableFile(SEVERAL_DOCUMENTS, "", f"{len(messages)} Documents in one file with different {what} "
                                                      f"({shown}): each is a statement of its own")

    kinds = {message.message for message in messages}
    if len(kinds) > 1:
        raise refused("messages", kinds)
    for field_name, what in (("account_id", "accounts"), ("statement_date", "statement dates")):
        values = {record[field_name] for message in messages for record in message.records if record[field_name]}
        if len(values) > 1:
            raise refused(what, values)
    repeated = sorted({page or "(none)" for page in pages if pages.count(page) > 1})
    if repeated:
        # the same page twice is a copy, and pages without numbers cannot be told from copies
        raise UnreadableFile("repeated_message", "", f"{len(messages)} Documents of one statement in one file, "
                                                     f"page {', '.join(repeated)} more than once: send each page "
                                                     "once, numbered")
    servicers = {message.servicer_bic for message in messages if message.servicer_bic is not None}
    if len(servicers) > 1:
        raise refused("account servicers", servicers)
    totals = {message.stated_holdings_total for message in messages if message.stated_holdings_total is not None}
    if len(totals) > 1:
        raise refused("statement totals", totals)
    records, problems = [], []
    for message in messages:
        problems.extend((row + len(records), field, value, reason) for row, field, value, reason in message.problems)
        records.extend(message.records)
    return StatementMessage(messages[0].message, next(iter(servicers), None), records, problems,
                            next(iter(totals), None))


def _parse(content: bytes) -> Element:
    if len(content) > MAX_DOCUMENT_BYTES:
        raise UnreadableFile("file_too_large", "", f"{len(content)} bytes, more than {MAX_DOCUMENT_BYTES}")
    _require_declared_encoding(content)
    try:
        return fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        # A DTD is where entity expansion (billion laughs) and external entities live: none is read.
        raise UnreadableFile("unsafe_xml", "", f"{type(exc).__name__}: {exc}"[:200]) from exc
    except ParseError as exc:
        enveloped = _beside_document(content) if "junk after document element" in str(exc) else None
        if enveloped is not None:
            return enveloped
        # the parser's own reason (its message carries the line and column)
        raise UnreadableFile("unreadable_file", "", f"not well-formed XML: {exc}"[:200]) from exc
    except (LookupError, ValueError) as exc:
        # expat's refusals of the declared encoding: unknown (LookupError) or multi-byte (ValueError)
        raise UnreadableFile("unreadable_file", "", f"the XML's declared encoding cannot be read: {exc}"[:200]) from exc


_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8_NAMES = {"utf-8", "utf8"}
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def _require_declared_encoding(content: bytes) -> None:
    """A document that declares a single-byte encoding (ISO-8859-1, windows-1252) while its bytes are UTF-8 would be
    read without error and every accented name garbled: it is refused, saying where the first such character is."""
    declared = _DECLARED_ENCODING.match(content)
    if declared is None or declared.group(1).decode().lower() in _UTF8_NAMES or content.isascii():
        return
    first = _NON_ASCII.search(content).start()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return  # not UTF-8: the declared encoding may well be right
    before = content[:first].decode("ascii")
    line, column = before.count("\n") + 1, first - (before.rfind("\n") + 1)
    character = text[len(before)]
    raise UnreadableFile("unreadable_file", "", f"the XML declares encoding {declared.group(1).decode()} but its bytes "
                                                f"are UTF-8 ({character!r} at line {line}, column {column})")


def _beside_document(content: bytes) -> Element | None:
    """A business application header (head.001 `AppHdr`) sent beside the `Document` rather than around it: two
    top-level elements, read as if one envelope held them. None when that is not what the file is."""
    body = content.lstrip()
    if body.startswith(b"<?xml"):
        body = body[body.index(b"?>") + 2:].lstrip()
    if not body.startswith(b"<AppHdr"):
        return None
    try:
        return fromstring(b"<BusinessMessage>" + body + b"</BusinessMessage>", forbid_dtd=True,
                          forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, LookupError, ValueError):
        return None


def _documents(root: Element) -> list[Element]:
    """The `Document` elements: the root, or those inside an envelope (a business application header's, a SWIFT
    `DataPDU`'s); the root itself when there is none, so that the refusal names what the file holds."""
    if _local(root.tag) == "Document":
        return [root]
    return [element for element in root.iter() if _local(element.tag) == "Document"] or [root]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Reader:
    """Paths in the message's own namespace, `/`-separated local names."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def find(self, element: Element | None, path: str) -> Element | None:
        if element is None:
            return None
        return element.find("/".join(f"{{{self.namespace}}}{step}" for step in path.split("/")))

    def findall(self, element: Element, path: str) -> list[Element]:
        return element.findall("/".join(f"{{{self.namespace}}}{step}" for step in path.split("/")))

    def text(self, element: Element | None, path: str = "") -> str | None:
        found = self.find(element, path) if path else element
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def descendant(self, element: Element | None, local_names: tuple[str, ...]) -> str | None:
        if element is None:
            return None
        for candidate in element.iter():
            if _local(candidate.tag) in local_names and candidate.text and candidate.text.strip():
                return candidate.text.strip()
        return None

    def date_time(self, element: Element | None) -> tuple[str | None, str | None]:
        """(business date, UTC cut-off) of a date-or-date-time choice. The business date is the date the custodian
        wrote, in its own zone: an end-of-day statement of 8 March in New York, stamped 23:30-04:00, is 8 March's,
        although its moment falls on 9 March in UTC (and is compared with the ledger at that moment, its cut-off)."""
        if element is None:
            return None, None
        moment = self.text(element, "DtTm")
        if moment is not None:
            utc = _utc_text(moment)
            return moment[:10], utc or moment
        return self.text(element, "Dt"), None

    def cusip(self, instrument: Element | None) -> str | None:
        if instrument is None:
            return None
        # semt.002.001.03 wraps the identifiers in `Id`; later versions and camt.053 put them under FinInstrmId
        identifiers = self.find(instrument, "Id")
        if identifiers is None or len(identifiers) == 0:
            identifiers = instrument
        for other in [*self.findall(identifiers, "OthrId"), *self.findall(identifiers, "Prtry")]:
            scheme = (self.text(other, "Tp/Cd") or self.text(other, "Tp/Prtry") or self.text(other, "Tp")
                      or self.text(other, "IdSrc/Prtry"))
            if scheme is not None and scheme.upper() in _CUSIP_SCHEMES:
                return self.text(other, "Id")
            if self.text(other, "IdSrc/Dmst") == _CUSIP_COUNTRY:
                return self.text(other, "Id")
        instrument = identifiers
        isin = self.text(instrument, "ISIN")
        if isin is not None and len(isin) == 12 and isin.startswith("US"):
            return isin[2:11]
        return isin

    def signed_amount(self, amount: Element | None, negative: bool) -> str | None:
        text = self.text(amount)
        if text is None:
            return None
        return f"-{text}" if negative and not text.startswith("-") else text

    def holdings(self, document: Element, message: str) -> StatementMessage:
        report = self.find(document, "SctiesBalCtdyRpt")
        if report is None:
            raise UnreadableFile("missing_element", "SctiesBalCtdyRpt", message)
        statement_date, cut_off = self.date_time(self.find(report, "StmtGnlDtls/StmtDtTm"))
        if cut_off is None and statement_date is not None:
            # A statement dated without a time holds the positions at the end of its day.
            cut_off = f"{statement_date}T23:59:59.999999Z"
        account_id = self.text(report, "SfkpgAcct/Id")
        records = []
        for balance in self.findall(report, "BalForAcct"):
            instrument = self.find(balance, "FinInstrmId")
            value = self.find(balance, "AcctBaseCcyAmts/HldgVal")
            prices = self.findall(balance, "PricDtls")
            market = next((p for p in prices if self.text(p, "Tp/Cd") == "MRKT"), prices[0] if prices else None)
            records.append({
                "statement_date": statement_date, "cut_off_time": cut_off, "account_id": account_id,
                "record_type": "holding",
                "cusip": self.cusip(instrument),
                "security_description": self.text(instrument, "Desc"),
                "maturity_date": self.text(balance, "FinInstrmAttrbts/MtrtyDt"),
                # AggtBal/Qty/Qty/Qty/FaceAmt, or OrgnlAndCurFace/FaceAmt: wherever its face amount is
                "par_value": self.descendant(self.find(balance, "AggtBal"), ("FaceAmt",)),
                "price": self.text(market, "Val/Rate") if market is not None else None,
                "market_value": self.signed_amount(self.find(value, "Amt"), self.text(value, "Sgn") == "false"),
                "amount": None,
                "currency": (self.find(value, "Amt").get("Ccy") if self.find(value, "Amt") is not None else None),
                "transaction_type": None, "reference": None,
            })
        total = self.find(report, "AcctBaseCcyTtlAmts/TtlHldgsValOfStmt")
        stated_total = self.signed_amount(self.find(total, "Amt"), self.text(total, "Sgn") == "false")
        if stated_total is not None and not is_decimal_text(stated_total):
            # The custodian's own total is asserted on the ledger as it stands: one that is not an amount makes the
            # statement unusable, not a total to guess.
            raise UnreadableFile("invalid_decimal", "stated_holdings_total", stated_total[:200], len(records))
        servicer = self.descendant(self.find(report, "AcctSvcr"), _BIC_ELEMENTS)
        return StatementMessage(message, servicer, records, stated_holdings_total=stated_total)

    def cash(self, document: Element, message: str) -> StatementMessage:
        statements = self.findall(document, "BkToCstmrStmt/Stmt")
        if not statements:
            raise UnreadableFile("missing_element", "BkToCstmrStmt/Stmt", message)
        records: list[dict[str, str | None]] = []
        problems: list[tuple[int, str, str, str]] = []
        servicer = None
        for statement in statements:
            account = self.find(statement, "Acct")
            account_id = self.text(account, "Id/Othr/Id") or self.text(account, "Id/IBAN")
            servicer = servicer or self.descendant(self.find(account, "Svcr"), _BIC_ELEMENTS)
            to_moment = self.text(statement, "FrToDt/ToDtTm") or self.text(statement, "CreDtTm")
            cut_off = _utc_text(to_moment) or to_moment if to_moment else None
            balances = self.findall(statement, "Bal")
            closing = next((b for b in balances if self.text(b, "Tp/CdOrPrtry/Cd") == "CLBD"), None)
            closing_date, _ = self.date_time(self.find(closing, "Dt"))
            statement_date = closing_date or (to_moment[:10] if to_moment else None)  # the custodian's own date
            common = {"statement_date": statement_date, "cut_off_time": cut_off, "account_id": account_id,
                      "cusip": None, "security_description": None, "maturity_date": None, "par_value": None,
                      "price": None, "market_value": None}
            for balance in balances:
                record_type = {"OPBD": "opening_cash", "CLBD": "closing_cash"}.get(self.text(balance, "Tp/CdOrPrtry/Cd"))
                if record_type is None:
                    continue  # interim and available balances are not part of the statement's record
                amount = self.find(balance, "Amt")
                records.append({**common, "record_type": record_type,
                                "amount": self.signed_amount(amount, self.text(balance, "CdtDbtInd") == "DBIT"),
                                "currency": amount.get("Ccy") if amount is not None else None,
                                "transaction_type": None, "reference": None})
            for entry in self.findall(statement, "Ntry"):
                records.append(self._entry(entry, common))
                status = self.text(entry, "Sts/Cd") or self.text(entry, "Sts")
                if status != "BOOK":
                    problems.append((len(records), "status", status or "", "entry_not_booked"))
        return StatementMessage(message, servicer, records, problems)

    def _entry(self, entry: Element, common: dict[str, str | None]) -> dict[str, str | None]:
        credit = self.text(entry, "CdtDbtInd") == "CRDT"
        domain = self.text(entry, "BkTxCd/Domn/Cd")
        family = self.text(entry, "BkTxCd/Domn/Fmly/Cd")
        sub_family = self.text(entry, "BkTxCd/Domn/Fmly/SubFmlyCd")
        code = (domain, family, sub_family)
        if code[:2] == ("PMNT", "RCDT") and credit:
            transaction_type = "cash_receipt"
        elif code[:2] == ("SECU", "SETT") and not credit:
            transaction_type = "tbill_purchase"
        elif (code == ("SECU", "CORP", "REDM") or code[:2] == ("SECU", "SETT")) and credit:
            transaction_type = "tbill_maturity"
        else:
            proprietary = self.text(entry, "BkTxCd/Prtry/Cd")
            transaction_type = proprietary or "/".join(part or "" for part in code) + ("/CRDT" if credit else "/DBIT")
        details = self.find(entry, "NtryDtls/TxDtls")
        amount = self.find(entry, "Amt")
        is_receipt = transaction_type == "cash_receipt"
        return {
            **common,
            "record_type": "transaction",
            "cusip": None if is_receipt else self.cusip(self.find(details, "FinInstrmId")),
            # version 02's security identification has no description: it travels as additional information
            "security_description": None if is_receipt else (self.text(details, "FinInstrmId/Desc")
                                                             or self.text(details, "AddtlTxInf")),
            "par_value": None if is_receipt else self.descendant(self.find(details, "RltdQties"), ("FaceAmt",)),
            "amount": self.text(amount),
            "currency": amount.get("Ccy") if amount is not None else None,
            "transaction_type": transaction_type,
            "reference": self.text(details, "RmtInf/Ustrd") if is_receipt else self.text(entry, "AcctSvcrRef"),
        }


def _utc_text(moment: str) -> str | None:
    """An ISO 8601 date-time with an offset, in UTC with `Z`; None when it has no offset (a local time whose zone
    the statement does not say) or is not a date-time."""
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        utc = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # in UTC, before the year 1 or after the year 9999: no moment a statement can have
        return None
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"
