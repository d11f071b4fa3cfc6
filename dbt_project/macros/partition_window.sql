{#
  The partition window: dbt vars `min_date` and `max_date`, both inclusive. Dagster passes the run's window; the
  defaults cover all history.
#}

{% macro partition_window_start() -%}
  cast('{{ var("min_date") }}' as date)
{%- endmacro %}

{% macro partition_window_end() -%}
  cast('{{ var("max_date") }}' as date)
{%- endmacro %}

{% macro in_partition_window(column) -%}
  {{ column }} between {{ partition_window_start() }} and {{ partition_window_end() }}
{%- endmacro %}

{#
  Incremental strategy `partition_window`: the window's days are deleted and rebuilt, so re-running a day replaces
  exactly that day, even when it now has fewer rows (or none) than before; days outside the window are untouched.
  Models using it must select only rows of the window.
#}
{% macro get_incremental_partition_window_sql(arg_dict) -%}
  {%- set target = arg_dict["target_relation"] -%}
  {%- set source = arg_dict["temp_relation"] -%}
  {%- set columns_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
  delete from {{ target }}
  where {{ in_partition_window("partition_date") }};

  insert into {{ target }} ({{ columns_csv }})
  select {{ columns_csv }}
  from {{ source }}
{%- endmacro %}
