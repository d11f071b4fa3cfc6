"""Custodian statements in the envelopes they really arrive in (ISO 20022's business application header, head.001
`AppHdr`, as SWIFT delivers it beside the `Document`), and refusals that say what the parser or the statement said.
The header here is written by this project from the head.001 message definition."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from assets.custodian.statements import ingest_custodian_day
from assets.inbox.intake import take_in_inbox
from foundation.lake import Lake
from sandbox.file_drops import StatementRow, write_holdings_statement

DAY = date(2026, 1, 5)
STATEMENT = [
    StatementRow("holding", cusip="912797LB1", security_description="US T-Bill", maturity_date=date(2026, 3, 26),
                 par_value=Decimal("1000"), price=Decimal("99"), market_value=Decimal("990.00")),
]
APP_HDR = (b'<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02">'
           b"<Fr><FIId><FinInstnId><BICFI>SNDBUS33XXX</BICFI></FinInstnId></FIId></Fr>"
           b"<To><FIId><FinInstnId><BICFI>BACKEDXXXXX</BICFI></FinInstnId></FIId></To>"
           b"<BizMsgIdr>SEMT002-20260105-0001</BizMsgIdr><MsgDefIdr>semt.002.001.11</MsgDefIdr>"
           b"<CreDt>2026-01-05T22:00:00Z</CreDt></AppHdr>\n")


def statement_bytes(tmp_path) -> bytes:
    path = tmp_path / "plain.xml"
    write_holdings_statement(path, DAY, "ACC-1", STATEMENT)
    return path.read_bytes()


def taken_in(tmp_path, name: str, content: bytes):
    lake = Lake(tmp_path / "home")
    (lake.home.inbox).mkdir(parents=True, exist_ok=True)
    (lake.home.inbox / name).write_bytes(content)
    (result,) = take_in_inbox(lake)
    return lake, result


def test_a_statement_with_its_business_application_header_beside_the_document_is_read(tmp_path):
    plain = statement_bytes(tmp_path)
    declaration, document = plain.split(b"\n", 1)
    lake, result = taken_in(tmp_path, "semt002.xml", declaration + b"\n" + APP_HDR + document)
    assert (result.status, result.recognition.format, result.partition) == ("routed", "semt.002.001.11", DAY)
    (summary,) = ingest_custodian_day(DAY, lake)
    assert (summary.rows_in, summary.rows_accepted) == (1, 1)


def test_a_statement_inside_an_envelope_with_its_header_is_read(tmp_path):
    declaration, document = statement_bytes(tmp_path).split(b"\n", 1)
    enveloped = declaration + b"\n<BizMsg>" + APP_HDR + document + b"</BizMsg>\n"
    _, result = taken_in(tmp_path, "semt002.xml", enveloped)
    assert (result.status, result.recognition.format) == ("routed", "semt.002.001.11")


def test_malformed_xml_is_refused_with_the_parsers_own_reason_line_and_column(tmp_path):
    _, result = taken_in(tmp_path, "semt002.xml", statement_bytes(tmp_path) + b"<trailer/>\n")
    assert result.recognition.problem == "unreadable_file"
    assert result.recognition.detail.startswith("not well-formed XML: junk after document element: line ")
    _, result = taken_in(tmp_path / "cut", "semt002.xml", statement_bytes(tmp_path)[:-40])
    assert "not well-formed XML: " in result.recognition.detail and ", column " in result.recognition.detail


def test_an_unknown_custodian_is_named_by_the_bic_read_and_the_file_to_edit(tmp_path):
    content = statement_bytes(tmp_path).replace(b"SNDBUS33XXX", b"DEUTDEFFXXX")
    _, result = taken_in(tmp_path, "semt002.xml", content)
    assert result.recognition.problem == "unknown_custodian"
    assert "DEUTDEFFXXX" in result.recognition.detail and "counterparties.toml" in result.recognition.detail


def test_a_statement_in_a_swift_data_pdu_is_read_and_a_file_of_two_messages_is_refused_not_cut(tmp_path):
    declaration, document = statement_bytes(tmp_path).split(b"\n", 1)
    pdu = (declaration + b'\n<Saa:DataPDU xmlns:Saa="urn:swift:saa:xsd:saa.2.0"><Saa:Revision>2.0.14</Saa:Revision>'
           b"<Saa:Header><Saa:Message><Saa:MessageIdentifier>semt.002.001.11</Saa:MessageIdentifier>"
           b"</Saa:Message></Saa:Header><Saa:Body>" + APP_HDR + document + b"</Saa:Body></Saa:DataPDU>\n")
    _, result = taken_in(tmp_path, "semt002.xml", pdu)
    assert (result.status, result.recognition.format) == ("routed", "semt.002.001.11")
    two = pdu.replace(b"</Saa:Body>", document + b"</Saa:Body>")
    _, result = taken_in(tmp_path / "two", "semt002.xml", two)
    assert (result.recognition.problem, result.recognition.detail) == (
        "repeated_message", "2 Documents of one statement in one file, page 1 more than once: send each page once, "
                            "numbered")


def test_a_declared_encoding_the_bytes_do_not_have_is_refused_where_it_shows(tmp_path):
    plain = statement_bytes(tmp_path).replace(b"US T-Bill", "US T-Bill émission".encode())
    mislabelled = plain.replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'").replace(
        b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    assert mislabelled != plain
    _, result = taken_in(tmp_path, "semt002.xml", mislabelled)
    assert result.recognition.problem == "unreadable_file"
    assert result.recognition.detail.startswith("the XML declares encoding ISO-8859-1 but its bytes are UTF-8 ('é' at line ")
    # the other way round: declared UTF-8, written in Latin-1: the parser's own reason and place
    _, result = taken_in(tmp_path / "latin", "semt002.xml",
                         plain.replace("émission".encode(), "émission".encode("latin-1")))
    assert result.recognition.detail.startswith("not well-formed XML: not well-formed (invalid token): line ")
