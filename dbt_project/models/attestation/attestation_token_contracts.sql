{{ config(materialized='view') }}
{#
  The contracts and tokens the attestation's chain figures are read from, one row per (day, role, address): the
  day's address book, and which of them are the protocol's own.
#}
select partition_date, role, address, token_symbol, is_protocol
from {{ ref('address_book') }}
