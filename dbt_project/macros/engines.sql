{#
  What differs between the engines the project runs on (BACKED_ENGINE: duckdb, the default, or spark; profiles.yml).
  The models are written once; where the engines' SQL differs, the difference is a dispatched macro here or beside
  the concept it serves (sha256_hex and exact_ratio in ledger_keys.sql and money.sql), never a second model.
#}

{# Rows of the left side with (anti) or without (semi) a match on the right: DuckDB's and Spark's words for it. #}
{% macro anti_join() -%}
  {{ return(adapter.dispatch("anti_join")()) }}
{%- endmacro %}

{% macro default__anti_join() -%}
  anti join
{%- endmacro %}

{% macro spark__anti_join() -%}
  left anti join
{%- endmacro %}

{% macro semi_join() -%}
  {{ return(adapter.dispatch("semi_join")()) }}
{%- endmacro %}

{% macro default__semi_join() -%}
  semi join
{%- endmacro %}

{% macro spark__semi_join() -%}
  left semi join
{%- endmacro %}

{#
  dbt-spark's listagg drops the order: `collect_list` keeps whatever order the rows arrive in, and the journal's
  content hashes and day digests are over lines in a stated order. Spark 4 has the ordered aggregate itself.
#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  {%- if limit_num -%}
    {{ exceptions.raise_compiler_error("listagg: a limit is not supported on Spark") }}
  {%- endif -%}
  listagg({{ measure }}, {{ delimiter_text }}) within group ({{ order_by_clause or "order by 1" }})
{%- endmacro %}

{# The widest exact integer: DuckDB's 128-bit hugeint; DECIMAL(38,0) on Spark. #}
{% macro wide_integer_type() -%}
  {{ return(adapter.dispatch("wide_integer_type")()) }}
{%- endmacro %}

{% macro default__wide_integer_type() -%}
  decimal(38, 0)
{%- endmacro %}

{% macro duckdb__wide_integer_type() -%}
  hugeint
{%- endmacro %}

{#
  The integer quotient of two non-negative integers. Spark's `div` returns a BIGINT, too narrow for a ratio's
  integer part in 10^-18 units: the remainder is taken off first and the division is exact.
#}
{% macro integer_quotient(dividend, divisor) -%}
  {{ return(adapter.dispatch("integer_quotient")(dividend, divisor)) }}
{%- endmacro %}

{% macro default__integer_quotient(dividend, divisor) -%}
  (({{ dividend }}) // ({{ divisor }}))
{%- endmacro %}

{% macro spark__integer_quotient(dividend, divisor) -%}
  cast((({{ dividend }}) - (({{ dividend }}) % ({{ divisor }}))) / ({{ divisor }}) as decimal(38, 0))
{%- endmacro %}

{# A DECIMAL's integer part, toward zero (DuckDB's trunc; Spark's trunc is for dates). #}
{% macro truncate_toward_zero(expression) -%}
  {{ return(adapter.dispatch("truncate_toward_zero")(expression)) }}
{%- endmacro %}

{% macro default__truncate_toward_zero(expression) -%}
  trunc({{ expression }})
{%- endmacro %}

{% macro spark__truncate_toward_zero(expression) -%}
  (case when {{ expression }} < 0 then ceil({{ expression }}) else floor({{ expression }}) end)
{%- endmacro %}

{#
  Lake table `name` on Spark: the table's folder, whose `date=` folders Spark discovers as a partition column, so a
  filter on the day reads only that day's files. The day comes from the folder, as on DuckDB (models/sources.yml).
  The source is still named, for the lineage.
#}
{% macro spark__lake_source(name) -%}
  {%- set lineage = source('lake', name) -%}
  {%- set lake = var('lake_path', env_var('BACKED_HOME', '.backed') ~ '/lake') -%}
  {{- return("(select * except (partition_date, `date`), cast(`date` as date) as partition_date from parquet.`" ~ lake ~ "/" ~ name ~ "`)") -}}
{%- endmacro %}

{#
  Spark SQL has no UNION BY NAME: the columns the lake's files lack are added by name, read from the relation's
  schema when the model runs (Spark reads one file's footer for it).
#}
{% macro spark__with_optional_columns(relation, columns) -%}
  {%- if not execute -%}
    {{- return("select * from " ~ relation) -}}
  {%- endif -%}
  {%- set present = run_query("select * from " ~ relation ~ " limit 0").column_names | map("lower") | list -%}
  select *
  {%- for name, type in columns.items() if name | lower not in present %},
    cast(null as {{ type }}) as {{ name }}
  {%- endfor %}
  from {{ relation }}
{%- endmacro %}

{#
  The incremental strategy `rebuild_from_window_start` on Spark, whose Parquet tables cannot delete rows: the models
  are partitioned by day (dbt_project.yml), every day from `min_date` on is dropped, and the rebuilt days inserted.
  Dropping first is what makes a day now empty (a restatement that removed its rows) empty in the table too.
#}
{% macro get_insert_overwrite_sql(source_relation, target_relation, existing_relation) -%}
  {%- set dropped = run_query("select distinct cast(partition_date as string) from " ~ target_relation
                              ~ " where partition_date >= " ~ partition_window_start()).columns[0].values() -%}
  {%- for day in dropped | sort -%}
    {%- do run_query("alter table " ~ target_relation ~ " drop if exists partition (partition_date = date'" ~ day ~ "')") -%}
  {%- endfor -%}
  {%- set columns = adapter.get_columns_in_relation(target_relation) | map(attribute="quoted") | join(", ") -%}
  insert into table {{ target_relation }}
  select {{ columns }} from {{ source_relation }}
{%- endmacro %}

{#
  Seeds on Spark without floats: dbt-spark binds a seed's numbers as Python floats. Each value is written as a
  string literal cast to its column's type instead, so `0.1` is the decimal 0.1, never 0.1000000000000000055. String
  literals are read raw (profiles.yml): a value with an apostrophe is written in double quotes, and one with both
  quotes or a backslash is refused rather than altered.
#}
{% macro spark__load_csv_rows(model, agate_table) -%}
  {%- set column_override = model["config"].get("column_types", {}) -%}
  {%- set types = {} -%}
  {%- for name in agate_table.column_names -%}
    {%- do types.update({name: column_override.get(name, adapter.convert_type(agate_table, loop.index0))}) -%}
  {%- endfor -%}
  {%- set batch_size = get_batch_size() -%}
  {%- for chunk in agate_table.rows | batch(batch_size) -%}
    {%- set rows = [] -%}
    {%- for row in chunk -%}
      {%- set values = [] -%}
      {%- for name in agate_table.column_names -%}
        {%- set text = none if row[name] is none else row[name] | string -%}
        {%- if text is none -%}
          {%- do values.append("cast(null as " ~ types[name] ~ ")") -%}
        {%- elif ("'" in text and '"' in text) or "\\" in text -%}
          {{ exceptions.raise_compiler_error("seed " ~ model.name ~ ", column " ~ name ~ ": a value with both quotes or a backslash cannot be loaded on Spark: " ~ text) }}
        {%- else -%}
          {%- set quote = '"' if "'" in text else "'" -%}
          {%- do values.append("cast(" ~ quote ~ text ~ quote ~ " as " ~ types[name] ~ ")") -%}
        {%- endif -%}
      {%- endfor -%}
      {%- do rows.append("(" ~ values | join(", ") ~ ")") -%}
    {%- endfor -%}
    {%- call statement() -%}
      insert into {{ this.render() }} values {{ rows | join(", ") }}
    {%- endcall -%}
  {%- endfor -%}
  {{ return("") }}
{%- endmacro %}

{# The last non-null value of `expression` in the window frame that follows (`over ...`). #}
{% macro last_value_ignoring_nulls(expression) -%}
  {{ return(adapter.dispatch("last_value_ignoring_nulls")(expression)) }}
{%- endmacro %}

{% macro default__last_value_ignoring_nulls(expression) -%}
  last_value({{ expression }} ignore nulls)
{%- endmacro %}

{% macro spark__last_value_ignoring_nulls(expression) -%}
  last_value({{ expression }}, true)
{%- endmacro %}

{# `expression` rounded to `places` decimals, half to even (banker's rounding). #}
{% macro round_half_even(expression, places) -%}
  {{ return(adapter.dispatch("round_half_even")(expression, places)) }}
{%- endmacro %}

{% macro default__round_half_even(expression, places) -%}
  round_even({{ expression }}, {{ places }})
{%- endmacro %}

{% macro spark__round_half_even(expression, places) -%}
  bround({{ expression }}, {{ places }})
{%- endmacro %}

{#
  A DECIMAL(38,18) as text with all 18 decimals (0 is 0.000000000000000000): what the journal's hashes are over.
  Spark prints a decimal as Java's BigDecimal.toString does where a value comes back from a table, in exponent
  form for a zero or a small amount (0E-18, 1.000000000E-9): on Spark the text is built from the whole part and the
  18 digits of the fraction, each an integer, which print plainly.
#}
{% macro usd_text(expression) -%}
  {{ return(adapter.dispatch("usd_text")(expression)) }}
{%- endmacro %}

{% macro default__usd_text(expression) -%}
  cast({{ expression }} as {{ dbt.type_string() }})
{%- endmacro %}

{% macro spark__usd_text(expression) -%}
  {%- set magnitude = "abs(" ~ expression ~ ")" -%}
  case when {{ expression }} is not null then concat(
    case when {{ expression }} < 0 then '-' else '' end,
    cast(cast({{ truncate_toward_zero(magnitude) }} as decimal(38, 0)) as string),
    '.',
    lpad(cast(cast(({{ magnitude }} - {{ truncate_toward_zero(magnitude) }}) * 1000000000000000000 as decimal(38, 0)) as string), 18, '0')
  ) end
{%- endmacro %}
