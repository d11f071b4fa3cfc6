{#
  The partition window: `min_date` through `max_date`, ISO dates, both inclusive; by default all history
  (1970-01-01 through 2999-12-31).

  The pipeline gives a run's window in dbt's environment, BACKED_MIN_DATE and BACKED_MAX_DATE (assets/ledger.py),
  read when a node runs, never while dbt parses: the window is not part of what dbt parsed, so a run reuses dbt's
  saved parse of the project (partial parsing). Passed as dbt vars, the window made every run parse the whole
  project again: dbt drops its saved parse whenever the command line's vars change. By hand, dbt vars `min_date` /
  `max_date` still set it (`dbt build --vars '{min_date: 2026-01-05, max_date: 2026-01-05}'`, a full parse) and win
  over the environment. They have no project default, so a model reading `var('min_date')` itself fails to parse
  instead of silently reading all history when the window comes from the environment: models, tests and macros read
  the window through these macros, and a test's `where` through its placeholders `__min_date__` and
  `__max_date__` (macro get_where_subquery below).
#}
{% macro partition_window_day(name) -%}
  {%- set defaults = {"min_date": "1970-01-01", "max_date": "2999-12-31"} -%}
  {%- set value = var(name, none) -%}
  {%- if value is none and execute -%}
    {%- set value = env_var("BACKED_" ~ (name | upper), "") or none -%}
  {%- endif -%}
  {%- if value is none -%}
    {{- return(defaults[name]) -}}
  {%- endif -%}
  {{- return(modules.datetime.date.fromisoformat(value | string).isoformat()) -}}
{%- endmacro %}

{% macro partition_window_first_day() -%}
  {{- return(partition_window_day("min_date")) -}}
{%- endmacro %}

{% macro partition_window_last_day() -%}
  {{- return(partition_window_day("max_date")) -}}
{%- endmacro %}

{% macro partition_window_start() -%}
  cast('{{ partition_window_first_day() }}' as date)
{%- endmacro %}

{% macro partition_window_end() -%}
  cast('{{ partition_window_last_day() }}' as date)
{%- endmacro %}

{#
  dbt's get_where_subquery (the relation a generic test reads, filtered by the test's `where` config) with the
  window's placeholders filled in when the test runs: `__min_date__` and `__max_date__` become the window's
  bounds as DATE literals. dbt renders a `where` while it parses, so the window cannot be written in it as Jinja
  without making the parse depend on it; dbt documents this override for `where` filters computed at run time.
#}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get("where", "") -%}
  {%- if not where -%}
    {{- return(relation) -}}
  {%- endif -%}
  {%- set where = where | replace("__min_date__", partition_window_start()) | replace("__max_date__", partition_window_end()) -%}
  {%- set filtered -%}
    (select * from {{ relation }} where {{ where }}) dbt_subquery
  {%- endset -%}
  {{- return(filtered) -}}
{%- endmacro %}

{% macro in_partition_window(column) -%}
  {{ column }} between {{ partition_window_start() }} and {{ partition_window_end() }}
{%- endmacro %}

{#
  The rebuild window of the journal, of every model upstream of it that keeps history, and of the cumulative
  marts: from `min_date` through the later of `max_date` and the last day the journal already holds. Restating a
  day changes what later days carry forward (balances, allowance true-ups, T-bill marks, the hash chain), so every
  later day already posted is rebuilt with it; adding the next day costs that day only. All models take the
  journal's last day, read when the model runs, so they agree on the window and the bound is a literal the scans
  can prune on. (The journal is found by name: a ref() would make it upstream of the models that feed it.)
  `rebuild_window_last_day` is that day as an ISO string, `rebuild_window_end` as SQL.
#}
{% macro rebuild_window_last_day() -%}
  {%- if execute -%}
    {%- set journal = adapter.get_relation(database=target.database, schema=target.schema, identifier="journal_lines") -%}
    {%- if journal is not none -%}
      {%- set latest = run_query("select cast(max(partition_date) as string) from " ~ journal).columns[0].values()[0] -%}
      {%- if latest is not none and latest > partition_window_last_day() -%}
        {{- return(latest) -}}
      {%- endif -%}
    {%- endif -%}
  {%- endif -%}
  {{- return(partition_window_last_day()) -}}
{%- endmacro %}

{% macro rebuild_window_end() -%}
  {{- return("cast('" ~ rebuild_window_last_day() ~ "' as date)") -}}
{%- endmacro %}

{% macro in_rebuild_window(column) -%}
  {{ column }} between {{ partition_window_start() }} and {{ rebuild_window_end() }}
{%- endmacro %}

{#
  Incremental strategy `rebuild_from_window_start`: every day from `min_date` on is deleted and rebuilt, so
  re-running a day replaces exactly what it changes, even when a day now has fewer rows (or none) than before;
  earlier days are untouched. Models using it must select the rows of their rebuild window.
#}
{% macro get_incremental_rebuild_from_window_start_sql(arg_dict) -%}
  {%- set target = arg_dict["target_relation"] -%}
  {%- set source = arg_dict["temp_relation"] -%}
  {%- set columns_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
  delete from {{ target }}
  where partition_date >= {{ partition_window_start() }};

  insert into {{ target }} ({{ columns_csv }})
  select {{ columns_csv }}
  from {{ source }}
{%- endmacro %}

{#
  A cumulative mart's state at the close of the last day before its rebuild window, read back from the mart
  itself, so that the window only adds its own days' movements instead of scanning all history. `columns` maps
  each column to carry to its type; on a first build there is no earlier state and the CTE is empty.
#}
{% macro carried_forward(columns) -%}
  {%- if is_incremental() -%}
    select {{ columns.keys() | join(", ") }}
    from {{ this }}
    where partition_date = (
      select max(partition_date) from {{ this }} where partition_date < {{ partition_window_start() }}
    )
  {%- else -%}
    select
      {%- for name, type in columns.items() %}
      cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
      {%- endfor %}
    where 1 = 0
  {%- endif -%}
{%- endmacro %}

{#
  The ledger's days in the rebuild window (with `cumulative`, in the cumulative window): every day the chain was
  ingested and any day with journal lines.
#}
{% macro ledger_days(cumulative=false) -%}
  {%- set in_window = in_cumulative_window if cumulative else in_rebuild_window -%}
  select partition_date
  from {{ ref('stg_chain_days') }}
  where {{ in_window("partition_date") }}
  union
  select partition_date
  from {{ ref('journal_lines') }}
  where {{ in_window("partition_date") }}
{%- endmacro %}

{#
  Where a cumulative mart built from the journal starts reading: the window's start once it holds earlier days to
  carry forward; on its first build (a mart added to a home that already has a journal, or a full refresh) the
  first day of history, since a first build has nothing to carry forward and would otherwise open at zero.
#}
{% macro cumulative_window_start() -%}
  {%- if is_incremental() -%}
    {{ partition_window_start() }}
  {%- else -%}
    cast('1970-01-01' as date)
  {%- endif -%}
{%- endmacro %}

{#
  The rows a table kept day by day rebuilds: its rebuild window, or all history on its first build.
#}
{% macro in_cumulative_window(column) -%}
  {{ column }} between {{ cumulative_window_start() }} and {{ rebuild_window_end() }}
{%- endmacro %}
