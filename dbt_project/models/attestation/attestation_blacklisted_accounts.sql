{{ config(materialized='view') }}
{# The accounts blacklisted at each ledger day's close, as the attestation lists them. #}
select partition_date, account
from {{ ref('blacklisted_accounts') }}
where contract_role = 'usdai'
