{#
  What was recorded when each day was first attested (assets/attestation/journal_record.py), read from the files
  the attestation wrote outside the warehouse: `name` is the file of each day's folder under the data home's
  attestations/ (attested-day.parquet, attested-entries.parquet), `columns` (name -> type) its schema. The files
  are listed when the model is built; before any day is attested, an empty relation of the same columns.
#}
{% macro attested_record(name, columns) -%}
  {%- set files = [] -%}
  {%- if execute -%}
    {#- read when the model runs: an environment variable read while dbt parses makes the parse the home's own -#}
    {%- set root = env_var('BACKED_HOME', '.backed') ~ '/attestations' -%}
    {%- set files = files_in(root, name) -%}
  {%- endif -%}
  {%- if files | length > 0 -%}
    (select {% for column, type in columns.items() %}cast({{ column }} as {{ type }}) as {{ column }}{{ ", " if not loop.last }}{% endfor %}
     from {{ read_parquet_files(files) }})
  {%- else -%}
    (select {% for column, type in columns.items() %}cast(null as {{ type }}) as {{ column }}{{ ", " if not loop.last }}{% endfor %}
     where 1 = 0)
  {%- endif -%}
{%- endmacro %}

{# The day-level record of an attested day: its journal's line count and digest, and its inputs' chain hash. #}
{% macro attested_days() -%}
  {{ attested_record("attested-day.parquet", {"partition_date": "date", "line_count": "bigint",
                                              "day_digest": dbt.type_string(), "chain_hash": dbt.type_string(),
                                              "inputs_chain_hash": dbt.type_string()}) }}
{%- endmacro %}

{# Every journal entry of an attested day as it was when the day was first attested. #}
{% macro attested_entries() -%}
  {{ attested_record("attested-entries.parquet", {"partition_date": "date", "entry_id": dbt.type_string(),
                                                  "line_count": "bigint", "entry_digest": dbt.type_string()}) }}
{%- endmacro %}

{#
  The sha256 of a group's journal lines' texts (macro journal_record_text), ordered by `order_by`, joined by `\n`.
  A row without a line (a day's row of a left join that found none, every column null) adds no text: a day
  without lines hashes the empty string, as docs/ledger.md states, not a line of empty fields.
#}
{% macro journal_lines_digest(alias, order_by) -%}
  {%- set line_text = "case when " ~ alias ~ ".entry_id is not null then " ~ journal_record_text(alias) ~ " end" -%}
  {{ sha256_hex("coalesce(" ~ dbt.listagg(line_text, "'\n'", "order by " ~ order_by) ~ ", '')") }}
{%- endmacro %}

{# Each journal entry of `lines` (a relation of journal lines) with its line count and digest: its lines' texts in
   line order. What an attestation records of its day's entries, and what R11 compares with that record. #}
{% macro journal_entry_digests(lines) -%}
  select
    lines.partition_date,
    lines.entry_id,
    count(*) as line_count,
    {{ journal_lines_digest("lines", "lines.line_no") }} as entry_digest
  from {{ lines }} as lines
  group by lines.partition_date, lines.entry_id
{%- endmacro %}
