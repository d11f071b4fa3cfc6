"""The chain source's Dagster resource: which chain profile the runs read."""
from __future__ import annotations

from pathlib import Path

import dagster as dg


class ChainSource(dg.ConfigurableResource):
    """The chain profile (`sandbox` or `arbitrum`); the RPC URL comes from the profile or BACKED_RPC_URL, never from config."""

    profile: str = "sandbox"
    home: str

    def load(self):
        from assets.chain.profiles import load_profile, rpc_client

        profile = load_profile(self.profile, Path(self.home))
        return profile, rpc_client(profile)
