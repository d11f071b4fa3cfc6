{#
  The journal's deterministic ids: sha256 hex of `source|source_key|rule_id` (TigerBeetle's and Formance's
  idempotency rule: re-ingesting the same input never creates a second entry).
#}
{% macro sha256_hex(expression) -%}
  {{ return(adapter.dispatch("sha256_hex")(expression)) }}
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
  sha2({{ expression }}, 256)
{%- endmacro %}

{% macro duckdb__sha256_hex(expression) -%}
  sha256({{ expression }})
{%- endmacro %}

{% macro postgres__sha256_hex(expression) -%}
  encode(sha256(convert_to({{ expression }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro journal_entry_id(source, source_key, rule_id) -%}
  {{ sha256_hex(dbt.concat([source, "'|'", source_key, "'|'", rule_id])) }}
{%- endmacro %}

{#
  A restated entry (the same source, key and rule posting different lines) is a new revision with an id of its
  own: sha256 of `source|source_key|rule_id|revision`; revision 0 keeps the plain id above.
#}
{% macro journal_revision_entry_id(source, source_key, rule_id, revision) -%}
  case
    when {{ revision }} = 0 then {{ journal_entry_id(source, source_key, rule_id) }}
    else {{ sha256_hex(dbt.concat([source, "'|'", source_key, "'|'", rule_id, "'|'",
                                   "cast(" ~ revision ~ " as " ~ dbt.type_string() ~ ")"])) }}
  end
{%- endmacro %}

{# A reversal is keyed by the entry it reverses: an entry is reversed at most once. #}
{% macro journal_reversal_entry_id(reversed_entry_id) -%}
  {{ journal_entry_id("'ledger'", reversed_entry_id, "'reversal'") }}
{%- endmacro %}

{#
  One journal line as canonical text: what an entry's content fingerprint and the daily hash chain are computed
  over. Amounts print with all 18 decimals, times to the microsecond, so equal lines always give equal text.
#}
{% macro journal_line_text(line_no, account_code, sub_account, debit, credit, effective_time, partition_date) -%}
  {{ dbt.concat([
    "cast(" ~ line_no ~ " as " ~ dbt.type_string() ~ ")", "'|'", account_code, "'|'", sub_account, "'|'",
    as_text(debit), "'|'", as_text(credit), "'|'",
    "cast(" ~ effective_time ~ " as " ~ dbt.type_string() ~ ")", "'|'",
    "cast(" ~ partition_date ~ " as " ~ dbt.type_string() ~ ")"
  ]) }}
{%- endmacro %}

{#
  The last microsecond of a UTC day: when day-end entries (tape accruals, computed entries) take effect. Interval
  literals, not dbt.dateadd: dbt-spark's dateadd goes through whole Unix seconds and drops the microsecond.
#}
{% macro end_of_day(date_expression) -%}
  (cast({{ date_expression }} as {{ dbt.type_timestamp() }}) + interval 1 day - interval 1 microsecond)
{%- endmacro %}

{# Mints come from and burns go to the zero address. #}
{% macro zero_address() -%}
  '0x0000000000000000000000000000000000000000'
{%- endmacro %}

{# `tx_hash:log_index`, the lineage of every chain entry. #}
{% macro chain_source_key(tx_hash, log_index) -%}
  {{ dbt.concat([tx_hash, "':'", "cast(" ~ log_index ~ " as " ~ dbt.type_string() ~ ")"]) }}
{%- endmacro %}

{# `sha256:row`, the lineage of every entry posted from an inbox file. #}
{% macro file_source_key(source_sha256, source_row) -%}
  {{ dbt.concat([source_sha256, "':'", "cast(" ~ source_row ~ " as " ~ dbt.type_string() ~ ")"]) }}
{%- endmacro %}

{#
  A whole journal line as text, every column in the table's order joined by `|` (nulls as empty): what a day's
  hash covers, so that an edit of any column of any line changes it.
#}
{% macro journal_record_text(relation_alias) -%}
  {%- set columns = ["entry_id", "line_no", "account_code", "sub_account", "debit", "credit", "effective_time",
                     "partition_date", "source", "source_key", "rule_id", "revision", "reverses_entry_id",
                     "supersedes_entry_id", "restatement_reason"] -%}
  concat_ws('|'
    {%- for column in columns -%}
      {%- set value = relation_alias ~ "." ~ column -%}
      , coalesce({{ as_text(value) if column in ("debit", "credit") else "cast(" ~ value ~ " as " ~ dbt.type_string() ~ ")" }}, '')
    {%- endfor -%}
  )
{%- endmacro %}

{#
  The hash of each day's journal chained to the previous day's (`days`: a relation with partition_date and
  day_digest, one row per day, in any order; `opening_hash`: the chain hash before the first of them). The
  genesis hash, before the ledger's first day, is 64 zeros.
#}
{% macro journal_hash_chain(days, opening_hash) -%}
  with recursive ordered_days as (
    select partition_date, day_digest, row_number() over (order by partition_date) as day_number
    from {{ days }}
  ),

  chain (day_number, partition_date, day_digest, previous_chain_hash, chain_hash) as (
    select
      day_number, partition_date, day_digest, {{ opening_hash }} as previous_chain_hash,
      {{ sha256_hex(dbt.concat([opening_hash, "day_digest"])) }} as chain_hash
    from ordered_days
    where day_number = 1
    union all
    select
      ordered_days.day_number, ordered_days.partition_date, ordered_days.day_digest,
      chain.chain_hash as previous_chain_hash,
      {{ sha256_hex(dbt.concat(["chain.chain_hash", "ordered_days.day_digest"])) }} as chain_hash
    from ordered_days
    inner join chain
      on ordered_days.day_number = chain.day_number + 1
  )

  select partition_date, day_digest, previous_chain_hash, chain_hash
  from chain
{%- endmacro %}

{% macro journal_genesis_hash() -%}
  '0000000000000000000000000000000000000000000000000000000000000000'
{%- endmacro %}

{#
  Each day of `days` (SQL selecting partition_date, one row per day) with its journal line count and digest: the
  sha256 of its lines' texts (macro journal_record_text) ordered by entry_id and line_no, joined by newlines, ''
  for a day without lines. Only lines from `from_day` through `through_day` are read, when given (SQL dates).
#}
{% macro journal_day_digests(days, from_day=none, through_day=none) -%}
  select
    days.partition_date,
    count(lines.entry_id) as line_count,
    {{ journal_lines_digest("lines", "lines.entry_id, lines.line_no") }} as day_digest
  from ({{ days }}) as days
  left join {{ ref('journal_lines') }} as lines
    on lines.partition_date = days.partition_date
    {%- if from_day is not none %}
    and lines.partition_date >= {{ from_day }}
    {%- endif %}
    {%- if through_day is not none %}
    and lines.partition_date <= {{ through_day }}
    {%- endif %}
  group by days.partition_date
{%- endmacro %}

{#
  journal_day_digests of `days` into the temp table `name`, one statement per calendar month, when the node runs
  (DuckDB). The ordered string_agg keeps the text of every line it groups until its statement ends: over a year of
  10.4M lines, one statement needed more than 5 GB of DuckDB's memory and a month's needs a twelfth of that
  (docs/performance.md). Spark spills it, and computes the digests in one statement.
#}
{% macro stage_journal_day_digests(name, days) -%}
  {%- if execute -%}
    {%- do run_query("create or replace temp table " ~ name ~ " (partition_date date, line_count bigint, day_digest varchar)") -%}
    {%- set months = run_query("select distinct strftime(date_trunc('month', partition_date), '%Y-%m-%d') as month_start from (" ~ days ~ ") as days order by month_start") -%}
    {%- for month_start in months.columns[0].values() -%}
      {%- set from_day = "cast('" ~ month_start ~ "' as date)" -%}
      {%- set through_day = "cast(" ~ from_day ~ " + interval 1 month - interval 1 day as date)" -%}
      {%- set month_days = "select partition_date from (" ~ days ~ ") as days where partition_date between " ~ from_day ~ " and " ~ through_day -%}
      {%- do run_query("insert into " ~ name ~ " " ~ journal_day_digests(month_days, from_day, through_day)) -%}
    {%- endfor -%}
  {%- endif -%}
{%- endmacro %}
