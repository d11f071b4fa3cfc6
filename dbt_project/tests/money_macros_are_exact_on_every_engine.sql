{#
  The macros where the engines' SQL differs (macros/money.sql, macros/engines.sql, macros/ledger_keys.sql) give
  the same exact answers on each engine: one row per wrong answer. The cases are where the engines' own
  arithmetic and text differ: Spark rounds a quotient half up where the ledger truncates, prints a zero or a small
  amount that went through wide arithmetic in exponent form, reads a doubled apostrophe raw, and orders nothing in
  dbt-spark's listagg.
#}
{{ config(tags=["engines"]) }}

with cases as (
  select 'exact_ratio truncates 2/3' as case_name,
    {{ as_text(exact_ratio("cast('2' as decimal(38, 18))", "cast('3' as decimal(38, 18))")) }} as answer,
    '0.666666666666666666' as expected
  union all
  select 'exact_ratio truncates -2/3 toward zero',
    {{ as_text(exact_ratio("cast('-2' as decimal(38, 18))", "cast('3' as decimal(38, 18))")) }},
    '-0.666666666666666666'
  union all
  select 'exact_ratio of a share price',
    {{ as_text(exact_ratio("cast('1050000.123456789012345678' as decimal(38, 18))",
                            "cast('1000000' as decimal(38, 18))")) }},
    '1.050000123456789012'
  union all
  select 'exact_ratio by zero is null',
    coalesce({{ as_text(exact_ratio("cast('1' as decimal(38, 18))", "cast('0' as decimal(38, 18))")) }}, 'null'),
    'null'
  union all
  select 'usd_times_ratio past the 128-bit product',
    {{ as_text(usd_times_ratio("cast('1000.5' as decimal(38, 18))", "cast('1.005' as decimal(38, 18))")) }},
    '1005.502500000000000000'
  union all
  select 'usd_times_ratio rounds the 18th place half away from zero',
    {{ as_text(usd_times_ratio("cast('0.000000000000000001' as decimal(38, 18))", "cast('0.5' as decimal(38, 18))")) }},
    '0.000000000000000001'
  union all
  select 'as_text of zero', {{ as_text("cast('0' as decimal(38, 18))") }}, '0.000000000000000000'
  union all
  select 'as_text of a small amount', {{ as_text("cast('0.000000001' as decimal(38, 18))") }}, '0.000000001000000000'
  union all
  select 'as_text of a negative amount', {{ as_text("cast('-100.5' as decimal(38, 18))") }}, '-100.500000000000000000'
  union all
  select 'as_text of the largest amount',
    {{ as_text("cast('99999999999999999999.999999999999999999' as decimal(38, 18))") }},
    '99999999999999999999.999999999999999999'
  union all
  select 'round_half_even of 2.5', {{ as_text(usd(round_half_even("cast('2.5' as decimal(38, 18))", 0))) }},
    '2.000000000000000000'
  union all
  select 'round_half_even of 0.125 to cents', {{ as_text(usd(round_half_even("cast('0.125' as decimal(38, 18))", 2))) }},
    '0.120000000000000000'
  union all
  select 'truncate_toward_zero of -1.5', {{ as_text(usd(truncate_toward_zero("cast('-1.5' as decimal(38, 18))"))) }},
    '-1.000000000000000000'
  union all
  select 'sha256_hex of abc', {{ sha256_hex("'abc'") }},
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
  union all
  select 'listagg keeps its order', (
    select {{ dbt.listagg("letter", "'|'", "order by letter") }}
    from (select 'c' as letter union all select 'a' union all select 'b') as letters
  ), 'a|b|c'
  union all
  select 'as_text of a zero sum of large amounts', (
    select {{ as_text("sum(amount)") }}
    from (select cast('1000000' as decimal(38, 18)) as amount union all select cast('-1000000' as decimal(38, 18))) as amounts
  ), '0.000000000000000000'
  union all
  select 'as_text of a tiny negative sum of large amounts', (
    select {{ as_text("sum(amount)") }}
    from (select cast('1000000' as decimal(38, 18)) as amount
          union all select cast('-1000000.000000000000000001' as decimal(38, 18))) as amounts
  ), '-0.000000000000000001'
  union all
  select 'as_text of a whole number', {{ as_text("cast(42 as bigint)") }}, '42'
  union all
  select 'text_literal keeps an apostrophe', {{ text_literal("the day's end") }}, 'the day' || chr(39) || 's end'
  union all
  select 'distinct_listagg orders and deduplicates', (
    select {{ distinct_listagg("letter", "', '") }}
    from (select 'b' as letter union all select 'a' union all select 'b') as letters
  ), 'a, b'
  union all
  select 'minutes_between counts minute boundaries',
    {{ as_text(minutes_between("cast('2026-01-01 23:58:59' as timestamp)", "cast('2026-01-02 00:00:00' as timestamp)")) }},
    '2'
  union all
  select 'json_text of a string field', {{ json_text("'{\"role\": \"0xab\", \"n\": 5}'", "'$.role'") }}, '0xab'
  union all
  select 'end_of_day is the last microsecond', cast({{ end_of_day("cast('2026-01-10' as date)") }} as {{ dbt.type_string() }}),
    '2026-01-10 23:59:59.999999'
)

select case_name, answer, expected
from cases
where answer is null or answer <> expected
