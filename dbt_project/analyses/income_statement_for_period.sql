{#
  The income statement of the period given as dbt vars `period_start` and `period_end` (both inclusive):
    dbt compile --select income_statement_for_period --vars '{period_start: 2026-01-01, period_end: 2026-01-31}'
#}
{{ income_statement_for_period(var('period_start', partition_window_first_day()), var('period_end', partition_window_last_day())) }}
