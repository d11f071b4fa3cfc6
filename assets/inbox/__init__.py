"""The inbox: taking dropped files in (recognised by content, archived under their sha256, routed to a day), the
receipts register, the day's manifest of ingested files, and the row validation that sends bad rows to quarantine."""
