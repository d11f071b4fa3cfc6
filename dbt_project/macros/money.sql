{#
  Money is never a float. Ledger amounts are USD DECIMAL(38,18); raw token amounts DECIMAL(38,0).
#}

{% macro usd_type() -%}
  decimal(38, 18)
{%- endmacro %}

{% macro usd(expression) -%}
  cast({{ expression }} as {{ usd_type() }})
{%- endmacro %}

{#
  Raw token units to USD at 1 token = 1 USD. `usd_per_raw_unit` is 10^-decimals as DECIMAL(38,18) (see
  stg_chain_address_book): DECIMAL(38,0) x DECIMAL(38,18) is exact, and overflows loudly past 10^20 USD. The amount
  may be an expression (a sum of fees): it is multiplied whole.
#}
{% macro raw_to_usd(raw_amount, usd_per_raw_unit) -%}
  {{ usd("(" ~ raw_amount ~ ") * " ~ usd_per_raw_unit) }}
{%- endmacro %}

{#
  amount x ratio as DECIMAL(38,18), for an amount and a ratio below 100 (a share price, a rate), both DECIMAL(38,18):
  DuckDB multiplies the scaled 128-bit integers, which overflow past 1.7e38 (1,000 x 1.005 already does), so the
  amount's whole part and its fraction are multiplied apart and the fraction's product rounded to 18 places.
#}
{% macro usd_times_ratio(amount, ratio) -%}
  ({{ usd("cast(" ~ truncate_toward_zero(amount) ~ " as decimal(38, 0)) * " ~ ratio) }}
   + {{ usd("round((" ~ amount ~ " - " ~ truncate_toward_zero(amount) ~ ") * " ~ ratio ~ ", 18)") }})
{%- endmacro %}

{#
  numerator / denominator as DECIMAL(38,18), truncated toward zero; null when the denominator is zero or null.
  Arguments are DECIMAL(38,18) expressions (column names are best: they are repeated).
#}
{% macro exact_ratio(numerator, denominator) -%}
  {{ return(adapter.dispatch("exact_ratio")(numerator, denominator)) }}
{%- endmacro %}

{% macro default__exact_ratio(numerator, denominator) -%}
  cast({{ numerator }} / nullif({{ denominator }}, 0) as {{ usd_type() }})
{%- endmacro %}

{#
  DuckDB divides decimals in DOUBLE; Spark divides them exactly but rounds the 18th place half up (2/3 is ...667),
  where the ledger truncates. Both compute the quotient by long division on the scaled integers (128-bit on DuckDB,
  DECIMAL(38,0) on Spark): the integer part, then three blocks of six fractional digits. Exact while
  |denominator| < 1e14. The long division names each operand eight times; Spark binds the two scaled operands once
  in a lambda, which keeps a model of several ratios a few kilobytes of SQL rather than a hundred and more.
#}
{% macro duckdb__exact_ratio(numerator, denominator) -%}
  case when {{ denominator }} is null or {{ denominator }} = 0 or {{ numerator }} is null then null
  else {{ _signed_quotient("abs(" ~ _scaled_integer(numerator) ~ ")", "abs(" ~ _scaled_integer(denominator) ~ ")",
                           "(" ~ numerator ~ " < 0) <> (" ~ denominator ~ " < 0)") }}
  end
{%- endmacro %}

{% macro spark__exact_ratio(numerator, denominator) -%}
  element_at(transform(
    array(named_struct('a', abs({{ _scaled_integer(numerator) }}), 'b', abs({{ _scaled_integer(denominator) }}),
                       'negative', ({{ numerator }} < 0) <> ({{ denominator }} < 0))),
    operands -> case when operands.b is null or operands.b = 0 or operands.a is null then null
                else {{ _signed_quotient("operands.a", "operands.b", "operands.negative") }} end
  ), 1)
{%- endmacro %}

{# a / b in 10^-18 units, for scaled integers a >= 0 and b > 0, negated when `negative`. #}
{% macro _signed_quotient(a, b, negative) -%}
  {%- set block = "cast(1000000 as " ~ wide_integer_type() ~ ")" -%}
  {%- set r1 = "(" ~ a ~ " % " ~ b ~ ")" -%}
  {%- set r2 = "((" ~ r1 ~ " * " ~ block ~ ") % " ~ b ~ ")" -%}
  {%- set r3 = "((" ~ r2 ~ " * " ~ block ~ ") % " ~ b ~ ")" -%}
  {%- set digits = "cast(" ~ integer_quotient(r1 ~ " * " ~ block, b) ~ " as decimal(38, 0)) * cast(1000000000000 as decimal(38, 0))"
                   ~ " + cast(" ~ integer_quotient(r2 ~ " * " ~ block, b) ~ " as decimal(38, 0)) * cast(1000000 as decimal(38, 0))"
                   ~ " + cast(" ~ integer_quotient(r3 ~ " * " ~ block, b) ~ " as decimal(38, 0))" -%}
  (case when {{ negative }} then -1 else 1 end)
    * (
      cast({{ integer_quotient(a, b) }} as decimal(38, 0))
      + cast({{ digits }} as decimal(38, 0)) * cast('0.000000000000000001' as {{ usd_type() }})
    )
{%- endmacro %}

{# A DECIMAL(38,18) as the integer count of its 10^-18 units. #}
{% macro _scaled_integer(expression) -%}
  (cast({{ truncate_toward_zero(expression) }} as {{ wide_integer_type() }}) * cast(1000000000000000000 as {{ wide_integer_type() }})
   + cast(({{ expression }} - {{ truncate_toward_zero(expression) }}) * 1000000000000000000 as {{ wide_integer_type() }}))
{%- endmacro %}

{#
  A rate of the ledger's policy (dbt var `name`) as DECIMAL(9,6): a product of a USD amount and a rate stays exact
  (DECIMAL(38,24)) until it is rounded back to 18 places. A rate with more than 6 decimals, or not a plain
  non-negative decimal, stops the run rather than being rounded.
#}
{% macro policy_rate(name) -%}
  {%- set value = var(name) | string -%}
  {%- if not modules.re.fullmatch("[0-9]{1,3}([.][0-9]{1,6})?", value) -%}
    {{ exceptions.raise_compiler_error("dbt var " ~ name ~ " = '" ~ value ~ "': a rate is a plain decimal with at most 6 decimals") }}
  {%- endif -%}
  cast('{{ value }}' as decimal(9, 6))
{%- endmacro %}
