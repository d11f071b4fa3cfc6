"""The reserve attestation of one day: gathered from the warehouse, rendered as HTML and PDF with charts."""
