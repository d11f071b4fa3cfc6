{#
  The income statement of any period, both ends inclusive (ISO dates or date expressions): every income and
  expense account summed over the period's days, then net income (income less expenses) as a last line with
  no account code. For example:
    dbt show --inline "{{ income_statement_for_period('2026-01-01', '2026-01-31') }}"
#}
{% macro income_statement_for_period(period_start, period_end) -%}
  with period as (
    select account_code, account_name, account_type, sum(amount) as amount
    from {{ ref('income_statement') }}
    where partition_date between cast('{{ period_start }}' as date) and cast('{{ period_end }}' as date)
    group by account_code, account_name, account_type
  )
  select
    cast('{{ period_start }}' as date) as period_start,
    cast('{{ period_end }}' as date) as period_end,
    account_code, account_name, account_type, {{ usd("amount") }} as amount
  from period
  union all
  select
    cast('{{ period_start }}' as date), cast('{{ period_end }}' as date),
    cast(null as {{ dbt.type_string() }}), 'net income', cast(null as {{ dbt.type_string() }}),
    {{ usd("coalesce(sum(case when account_type = 'income' then amount else -amount end), 0)") }}
  from period
{%- endmacro %}
