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

{# The last microsecond of a UTC day: when day-end entries (tape accruals, computed entries) take effect. #}
{% macro end_of_day(date_expression) -%}
  {{ dbt.dateadd("microsecond", -1, dbt.dateadd("day", 1, "cast(" ~ date_expression ~ " as " ~ dbt.type_timestamp() ~ ")")) }}
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
