{#
  The reconciliation checks' tolerances and thresholds: dbt var `reconciliation`, a mapping of setting name to an
  exact decimal string (defaults in dbt_project.yml; a deployment's overrides passed by the pipeline, see
  expectations/policy.py). A setting renders as a SQL string literal, parsed by DuckDB as DECIMAL where it is
  compared, never as a float.
#}
{% macro reconciliation_setting(name) -%}
  {%- set settings = var("reconciliation") -%}
  {%- if name not in settings -%}
    {{- exceptions.raise_compiler_error("reconciliation setting " ~ name ~ " is not in var reconciliation (known: " ~ (settings.keys() | sort | join(", ")) ~ ")") -}}
  {%- endif -%}
  '{{ settings[name] | string | replace("'", "''") }}'
{%- endmacro %}

{#
  |difference| <= max(absolute tolerance, relative tolerance x |expected|), exact in DECIMAL; false when either
  side is missing. `abs_setting` and `rel_setting` name settings of var `reconciliation`.
#}
{% macro within(difference, expected, abs_setting, rel_setting=none) -%}
  {%- set absolute = "cast(" ~ reconciliation_setting(abs_setting) ~ " as decimal(38, 18))" -%}
  {%- if rel_setting is none -%}
    coalesce(abs({{ difference }}) <= {{ absolute }}, false)
  {%- else -%}
    coalesce(abs({{ difference }}) <= greatest({{ absolute }}, cast({{ reconciliation_setting(rel_setting) }} as decimal(18, 12)) * abs(coalesce({{ expected }}, 0))), false)
  {%- endif -%}
{%- endmacro %}

{#
  The shared CTEs of the checks. A check's row names the cut-off of each source it compares: the chain's block
  where state was read, the custodian statement's cut-off time (mart source_cutoffs).
#}
{% macro chain_cutoff_cte() -%}
chain_cutoff as (
    select partition_date, cutoff from {{ ref('source_cutoffs') }} where source = 'chain'
)
{%- endmacro %}

{% macro statement_cutoff_cte() -%}
statement_cutoff as (
    select partition_date, cutoff from {{ ref('source_cutoffs') }} where source = 'custodian_statement'
)
{%- endmacro %}

{% macro address_book_cte() -%}
book as (
    select partition_date, role, address_key, address, is_protocol, token_symbol, usd_per_raw_unit
    from {{ ref('address_book') }}
)
{%- endmacro %}

{#
  Every calendar day a check can be asked about: the bounds of the `min_date` / `max_date` defaults (all history).
  A check that reports a source missing (R9) needs the day even when no source delivered anything for it.
#}
{% macro calendar_days_cte() -%}
  {{ return(adapter.dispatch("calendar_days_cte")()) }}
{%- endmacro %}

{% macro default__calendar_days_cte() -%}
days as (
    select cast(d as date) as partition_date
    from generate_series(timestamp '1970-01-01', timestamp '2999-12-31', interval 1 day) as t(d)
)
{%- endmacro %}

{% macro spark__calendar_days_cte() -%}
days as (
    select explode(sequence(date'1970-01-01', date'2999-12-31', interval 1 day)) as partition_date
)
{%- endmacro %}

{#
  A lake table written only when something happens (a reorganisation, a rejected file), so it may have no file at
  all: its source when a file exists when the model is built, else no rows with `columns` (name -> type). A view
  using it is recreated by every build, after the run's ingestion has written the lake.
#}
{% macro optional_lake_table(name, columns) -%}
  {%- set whole = lake_source(name) -%}
  {%- if not execute -%}
    {{- return(whole) -}}
  {%- endif -%}
  {%- if lake_table_has_files(name) -%}
    {{- return(whole) -}}
  {%- endif -%}
  {%- set empty -%}
  (select
    {%- for column, type in columns.items() %}
    cast(null as {{ type }}) as {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
  where 1 = 0)
  {%- endset -%}
  {{- return(empty) -}}
{%- endmacro %}
