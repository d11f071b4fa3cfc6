{{ config(materialized='view') }}
{#
  Every journal entry's digest: the sha256 of its lines' texts (macro journal_record_text) in line order, joined
  by `\n` (macro journal_entry_digests). What an attestation records of its day's entries.
#}
{{ journal_entry_digests(ref('journal_lines')) }}
