{#
  Fails with one row per value of `columns` (a model's key) that, when `unique`, occurs more than once, or whose
  rows hold a null in any of `never_null` (the key's columns unless given). One query per model where a not_null
  test on each column and a uniqueness test would be one each: a build runs every test of the models it builds,
  at a fixed cost per test, and the views it tests are recomputed by every test.
#}
{% test keyed_by(model, columns, unique=true, never_null=none) %}
  {%- set never_null = columns if never_null is none else never_null -%}
  {%- set null_in_row = (never_null | map("string") | map("trim") | join(" is null or ")) ~ " is null" -%}
  {%- if columns %}
  {%- set columns_csv = columns | join(", ") %}
  select {{ columns_csv }}, count(*) as occurrences
    {%- if never_null %}, count(*) filter (where {{ null_in_row }}) as rows_with_nulls{% endif %}
  from {{ model }}
  group by {{ columns_csv }}
  having {{ "count(*) > 1" if unique else "false" }}
    {%- if never_null %} or count(*) filter (where {{ null_in_row }}) > 0{% endif %}
  {%- else %}
  select * from {{ model }} where {{ null_in_row if never_null else "false" }}
  {%- endif %}
{% endtest %}
