{#
  Fails with one row per value of `columns` (a model's key) that is null in any column or, when `unique`, occurs
  more than once. One query per model where not_null on each column and unique_combination_of_columns would be one
  each: the views it tests are recomputed by every test, in every build.
#}
{% test keyed_by(model, columns, unique=true) %}
  {%- set columns_csv = columns | join(", ") -%}
  select {{ columns_csv }}, count(*) as occurrences
  from {{ model }}
  group by {{ columns_csv }}
  having
    {%- for column in columns %} {{ column }} is null or{% endfor %}
    {{ "count(*) > 1" if unique else "false" }}
{% endtest %}
