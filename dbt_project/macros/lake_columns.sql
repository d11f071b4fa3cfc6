{#
  The rows of `relation` (a lake table) with `columns` (name -> type) present even when no file of the lake has
  them yet: a column added to a table's schema is null on the days written before it existed. DuckDB's UNION
  BY NAME fills the columns a side lacks with nulls; staging is where the lake's DuckDB reader lives anyway.
#}
{% macro with_optional_columns(relation, columns) -%}
  select * from {{ relation }}
  union all by name
  select
    {%- for name, type in columns.items() %}
    cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
  where 1 = 0
{%- endmacro %}
