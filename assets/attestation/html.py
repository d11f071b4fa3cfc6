"""The attestation as HTML (templates/attestation.html.j2)."""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from assets.attestation.document import ISSUER, TITLE, Attestation

TEMPLATES = Path(__file__).resolve().parent / "templates"


def render_html(attestation: Attestation) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      keep_trailing_newline=True)
    return env.get_template("attestation.html.j2").render(a=attestation, title=TITLE, issuer=ISSUER)
