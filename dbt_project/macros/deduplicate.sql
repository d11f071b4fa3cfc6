{#
  One row per key from `relation` (a CTE name), the first by `order_by`; the lake can hold the same fact twice
  (a re-ingested file, a duplicated log), staging never does.
#}
{% macro deduplicate(relation, unique_key, order_by) -%}
  select * exclude (duplicate_rank)
  from (
    select
      *,
      row_number() over (partition by {{ unique_key | join(", ") }} order by {{ order_by }}) as duplicate_rank
    from {{ relation }}
  ) as ranked
  where duplicate_rank = 1
{%- endmacro %}
