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
  {{- return("(select * except (partition_date, `date`), cast(`date` as date) as partition_date from parquet.`" ~ lake_folder(name) ~ "`)") -}}
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

{# Whether lake table `name` holds any day's file yet (optional_lake_table). #}
{% macro lake_table_has_files(name) -%}
  {{ return(files_in(lake_folder(name), "part-0.parquet") | length > 0) }}
{%- endmacro %}

{#
  The paths of the files named `file_name` in the sub-folders of `folder` (folder/*/file_name), sorted; none when
  the folder does not exist. Spark cannot list a folder that does not exist: it lists the parent folder's files of
  that name (their paths and sizes, not their contents) and keeps those one level below `folder`.
#}
{% macro files_in(folder, file_name) -%}
  {{ return(adapter.dispatch("files_in")(folder, file_name)) }}
{%- endmacro %}

{% macro default__files_in(folder, file_name) -%}
  {{ return(run_query("select file from glob('" ~ folder ~ "/*/" ~ file_name ~ "') order by file").columns[0].values() | list) }}
{%- endmacro %}

{% macro spark__files_in(folder, file_name) -%}
  {%- set parent, _, base = folder.rstrip("/").rpartition("/") -%}
  {%- do run_query("create or replace temporary view listed_files using binaryFile options (path '" ~ parent
                   ~ "', recursiveFileLookup 'true', pathGlobFilter '" ~ file_name ~ "')") -%}
  {%- set paths = run_query("select regexp_replace(path, '^file:', '') from listed_files order by 1").columns[0].values() -%}
  {%- set prefix = parent ~ "/" ~ base ~ "/" -%}
  {%- set found = [] -%}
  {%- for path in paths if path.startswith(prefix) and path[prefix | length:].count("/") == 1 -%}
    {%- do found.append(path) -%}
  {%- endfor -%}
  {{ return(found) }}
{%- endmacro %}

{# A relation of the rows of the Parquet files `files` (paths), which share their columns. #}
{% macro read_parquet_files(files) -%}
  {{ return(adapter.dispatch("read_parquet_files")(files)) }}
{%- endmacro %}

{% macro default__read_parquet_files(files) -%}
  read_parquet(['{{ files | join("', '") }}'])
{%- endmacro %}

{% macro spark__read_parquet_files(files) -%}
  (
  {%- for file in files %}
  select * from parquet.`{{ file }}`{{ " union all" if not loop.last }}
  {%- endfor %}
  )
{%- endmacro %}

{# The distinct values of `measure` in a group, in order, joined by `delimiter_text` (dbt's listagg has no distinct). #}
{% macro distinct_listagg(measure, delimiter_text) -%}
  {{ return(adapter.dispatch("distinct_listagg")(measure, delimiter_text)) }}
{%- endmacro %}

{% macro default__distinct_listagg(measure, delimiter_text) -%}
  string_agg(distinct {{ measure }}, {{ delimiter_text }} order by {{ measure }})
{%- endmacro %}

{% macro spark__distinct_listagg(measure, delimiter_text) -%}
  listagg(distinct {{ measure }}, {{ delimiter_text }}) within group (order by {{ measure }})
{%- endmacro %}

{# The text at JSON path `path` ('$.role') of the JSON text `json`, unquoted; null when absent. #}
{% macro json_text(json, path) -%}
  {{ return(adapter.dispatch("json_text")(json, path)) }}
{%- endmacro %}

{% macro default__json_text(json, path) -%}
  json_extract_string({{ json }}, {{ path }})
{%- endmacro %}

{% macro spark__json_text(json, path) -%}
  get_json_object({{ json }}, {{ path }})
{%- endmacro %}

{# How a regular expression's replacement text names capture group `number`. #}
{% macro regex_group_reference(number) -%}
  {{ return(adapter.dispatch("regex_group_reference")(number)) }}
{%- endmacro %}

{% macro default__regex_group_reference(number) -%}
  '\{{ number }}'
{%- endmacro %}

{% macro spark__regex_group_reference(number) -%}
  '${{ number }}'
{%- endmacro %}

{# The minute boundaries crossed from timestamp `start` to `end` (DuckDB's datediff('minute', ...)). #}
{% macro minutes_between(start, end) -%}
  {{ return(adapter.dispatch("minutes_between")(start, end)) }}
{%- endmacro %}

{% macro default__minutes_between(start, end) -%}
  datediff('minute', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__minutes_between(start, end) -%}
  cast((unix_seconds(date_trunc('MINUTE', {{ end }})) - unix_seconds(date_trunc('MINUTE', {{ start }}))) div 60 as bigint)
{%- endmacro %}


{#
  `expression` as text, as DuckDB casts it: a DECIMAL with all its scale's digits (0.000000000000000000). Spark's
  cast prints a DECIMAL as Java's BigDecimal.toString does, which depends on how the value is held: a zero or an
  amount under 1e-6 that went through wide arithmetic (a sum of large amounts) comes out as 0E-18 or 1E-18. That
  exponent form is rewritten here with the same digits: mantissa d.fff and exponent -n is 0., n - 1 zeros, d, fff.
#}
{% macro as_text(expression) -%}
  {{ return(adapter.dispatch("as_text")(expression)) }}
{%- endmacro %}

{% macro default__as_text(expression) -%}
  cast({{ expression }} as {{ dbt.type_string() }})
{%- endmacro %}

{% macro spark__as_text(expression) -%}
  element_at(transform(array(cast({{ expression }} as string)), printed ->
    case when printed rlike '^-?[0-9](\.[0-9]+)?E-[0-9]+$' then concat(
      case when printed like '-%' then '-' else '' end,
      '0.',
      repeat('0', cast(regexp_extract(printed, 'E-([0-9]+)$', 1) as int) - 1),
      regexp_extract(printed, '([0-9])(\.[0-9]+)?E', 1),
      regexp_extract(printed, '\.([0-9]+)E', 1))
    else printed end), 1)
{%- endmacro %}

{#
  A string literal holding `text`, which may contain an apostrophe. Spark reads literals raw (profiles.yml), so it
  would keep a doubled apostrophe doubled: on Spark the literal is written in double quotes instead.
#}
{% macro text_literal(text) -%}
  {{ return(adapter.dispatch("text_literal")(text)) }}
{%- endmacro %}

{% macro default__text_literal(text) -%}
  '{{ text | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__text_literal(text) -%}
  {%- if '"' in text or "\\" in text -%}
    {{ exceptions.raise_compiler_error("text_literal: a text with a double quote or a backslash cannot be written on Spark: " ~ text) }}
  {%- endif -%}
  "{{ text }}"
{%- endmacro %}

{#
  At the end of a run on Spark: the columns of each table kept by day, in the model's order, as an empty Parquet
  file under spark/columns/<table>-<model checksum>/ (written once per version of the model). Spark moves a
  partition column to the end of its table and writes no file for an empty table partitioned by day; the readers
  outside Spark (foundation/warehouse.py, publish_spark_tables) take a table's columns and their order from this
  file. A table not partitioned keeps its columns in order, and Spark writes a file with them even when empty.
#}
{% macro record_table_columns(results) -%}
  {{ return(adapter.dispatch("record_table_columns")(results)) }}
{%- endmacro %}

{% macro default__record_table_columns(results) -%}
  {{ return("") }}
{%- endmacro %}

{% macro spark__record_table_columns(results) -%}
  {%- if not execute -%}{{ return("") }}{%- endif -%}
  {%- set folder = env_var('BACKED_HOME', '.backed') ~ '/spark/columns' -%}
  {%- set recorded = [] -%}
  {%- for path in files_in(folder, "*.parquet") -%}
    {%- do recorded.append(path.split("/")[-2]) -%}
  {%- endfor -%}
  {%- for result in results if result.node.resource_type == "model" and result.status == "success"
                                and result.node.config.materialized == "incremental"
                                and result.node.config.get("partition_by") -%}
    {%- set key = result.node.alias ~ "-" ~ result.node.checksum.checksum[:16] -%}
    {%- if key not in recorded -%}
      {%- do run_query("create or replace temporary view model_columns as " ~ result.node.compiled_code) -%}
      {%- do run_query("insert overwrite directory '" ~ folder ~ "/" ~ key
                       ~ "' using parquet select * from model_columns where false") -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return("") }}
{%- endmacro %}
