{#
  Fails with one row per combination of `combination_of_columns` that occurs more than once.
  (dbt_utils has the same test; packages are not installed, there is no network for `dbt deps`.)
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
  {%- set columns_csv = combination_of_columns | join(", ") -%}
  select {{ columns_csv }}, count(*) as occurrences
  from {{ model }}
  group by {{ columns_csv }}
  having count(*) > 1
{% endtest %}
