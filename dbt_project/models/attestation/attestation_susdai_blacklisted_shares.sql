{{ config(materialized='view') }}
{# The sUSDai shares frozen by sUSDai's own blacklist at each ledger day's close, as the attestation shows them. #}
select partition_date, account, shares, value_usd
from {{ ref('susdai_blacklisted_shares') }}
