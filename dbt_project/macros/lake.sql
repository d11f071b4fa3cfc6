{#
  The rows of `relation` (a lake table) with `columns` (name -> type) present even when no file of the lake has
  them yet: a column added to a table's schema is null on the days written before it existed. DuckDB's UNION
  BY NAME fills the columns a side lacks with nulls; staging is where the lake's DuckDB reader lives anyway.
#}
{% macro with_optional_columns(relation, columns) -%}
  {{ return(adapter.dispatch("with_optional_columns")(relation, columns)) }}
{%- endmacro %}

{% macro default__with_optional_columns(relation, columns) -%}
  select * from {{ relation }}
  union all by name
  select
    {%- for name, type in columns.items() %}
    cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
  where 1 = 0
{%- endmacro %}

{# The folder of lake table `name` when a model runs: the data home's lake, unless var lake_path names another. #}
{% macro lake_folder(name) -%}
  {{ return(var('lake_path', env_var('BACKED_HOME', '.backed') ~ '/lake') ~ '/' ~ name) }}
{%- endmacro %}

{#
  Lake table `name`'s source as SQL, naming the data home's lake. When the pipeline runs dbt, models/sources.yml
  names the lake `~/lake` (dbt renders it while parsing, and a parse naming one home would serve no other); a view
  keeps the text it was created with and other processes read it, so the lake is named by its full path here, when
  the model runs.
#}
{% macro lake_source(name) -%}
  {{ return(adapter.dispatch("lake_source")(name)) }}
{%- endmacro %}

{% macro default__lake_source(name) -%}
  {%- set relation = source('lake', name) | string -%}
  {%- if execute and env_var('BACKED_DBT_HOME', '') -%}
    {%- set relation = relation.replace("'" ~ env_var('BACKED_DBT_HOME') ~ "/lake/", "'" ~ env_var('BACKED_HOME') ~ "/lake/") -%}
  {%- endif -%}
  {{- return(relation) -}}
{%- endmacro %}

{#
  Lake table `name` as its staging model reads it. The source globs every `date=` folder of the table, and DuckDB
  lists them all before the day filter prunes any: a cost of every read that grows with history. An incremental
  build names the folders of its rebuild window instead, those that exist (one listing-free query), so a day's
  build costs the same after years as on day two. A first build, a window of more than a year (a rebuild of most of
  history) and a window without a folder read the source; either way the model still filters on the day. Spark
  prunes the day folders from the filter itself (spark__lake_source).
#}
{% macro lake_table(name) -%}
  {%- set whole = lake_source(name) -%}
  {%- if not (execute and is_incremental()) or target.type == "spark" -%}
    {{- return(whole) -}}
  {%- endif -%}
  {%- set first = modules.datetime.date.fromisoformat(partition_window_first_day()) -%}
  {%- set last = modules.datetime.date.fromisoformat(rebuild_window_last_day()) -%}
  {%- if (last - first).days > 366 -%}
    {{- return(whole) -}}
  {%- endif -%}
  {%- set glob = modules.re.search("'([^']*)/date=\\*/part-0\\.parquet'", whole) -%}
  {%- if glob is none -%}
    {{- exceptions.raise_compiler_error("lake_table: the source lake." ~ name ~ " is not read as <folder>/date=*/part-0.parquet: " ~ whole) -}}
  {%- endif -%}
  {%- set lookups = [] -%}
  {%- for offset in range((last - first).days + 1) -%}
    {%- set day = (first + modules.datetime.timedelta(days=offset)).isoformat() -%}
    {%- do lookups.append("select file from glob('" ~ glob.group(1) ~ "/date=" ~ day ~ "/part-0.parquet')") -%}
  {%- endfor -%}
  {%- set existing = run_query(lookups | join(" union all ")).columns[0].values() | sort -%}
  {%- if existing | length == 0 -%}
    {{- return(whole) -}}
  {%- endif -%}
  {{- return(whole.replace(glob.group(0), "['" ~ existing | join("', '") ~ "']")) -}}
{%- endmacro %}
