-- The redeemable remainder of totalSupply() is what no other class holds: below zero, some balance was counted in
-- two classes (or a protocol address is also blacklisted or keyless).
select partition_date, amount_usd
from {{ ref('usdai_redeemability') }}
where redeemability = 'redeemable'
  and amount_usd < 0
  and partition_date >= {{ partition_window_start() }}
