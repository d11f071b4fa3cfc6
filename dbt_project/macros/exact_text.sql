{#
  An exact decimal as text without trailing zeros (81000, not 81000.000000000000000000): how a source row's amounts
  are quoted in the audit trail.
#}
{% macro exact_text(column) -%}
  regexp_replace(regexp_replace({{ as_text(column) }}, '(\.[0-9]*?)0+$', {{ regex_group_reference(1) }}), '\.$', '')
{%- endmacro %}
