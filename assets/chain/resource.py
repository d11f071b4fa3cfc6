"""The chain source's Dagster resource: which chain profile the runs read."""
from __future__ import annotations

from pathlib import Path

import dagster as dg


class ChainSource(dg.ConfigurableResource):
    """The chain profile (`sandbox` or `arbitrum`). The RPC URLs come from the profile (BACKED_RPC_URL and
    BACKED_RPC_URLS on Arbitrum), never from config: `load` gives the primary provider's client, and the run opens
    one for each other provider the profile names (assets.chain.ingest.ChainRun)."""

    profile: str = "sandbox"
    home: str

    def load(self):
        from assets.chain.profiles import load_profile, rpc_client

        profile = load_profile(self.profile, Path(self.home))
        return profile, rpc_client(profile)
