"""The chain source: JSON-RPC access, the event registry, day ↔ block mapping, profiles, the day's ingest."""
