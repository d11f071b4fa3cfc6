{#
  The project's views, created again only when their SQL changed. dbt's own view materialization creates each view
  under another name, renames the old one away, renames the new one in and drops the old, at every build, and each
  of those statements binds the view's query (opening the lake files it names): about a third of a day's dbt build
  for some 90 views whose SQL is the same from one build to the next. Here a view keeps the md5 of the SQL it was
  created from as its comment, and a build with the same SQL leaves it as it is. What a view returns follows its
  upstream tables whatever this does: DuckDB binds a view's query each time it is read. `--full-refresh` (a
  warehouse of another version of the project, assets/ledger.py) creates every view again.
#}
{%- materialization view, adapter='duckdb' -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set fingerprint = 'sql md5 ' ~ local_md5(sql) -%}
  {%- set unchanged = false -%}
  {%- if existing_relation is not none and existing_relation.is_view and not should_full_refresh() -%}
    {%- set kept = run_query("select comment from duckdb_views() where database_name = '" ~ this.database
                             ~ "' and schema_name = '" ~ this.schema ~ "' and view_name = '" ~ this.identifier ~ "'") -%}
    {%- set unchanged = kept.rows | length == 1 and kept.rows[0][0] == fingerprint -%}
  {%- endif -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {%- if existing_relation is not none and not existing_relation.is_view -%}
    {{ drop_relation_if_exists(existing_relation) }}
  {%- endif -%}
  {% call statement('main') -%}
    {%- if unchanged -%}
      select 1 as view_unchanged
    {%- else -%}
      create or replace view {{ target_relation }} as (
        {{ sql }}
      );
      comment on view {{ target_relation }} is '{{ fingerprint }}'
    {%- endif -%}
  {%- endcall %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{%- endmaterialization -%}

{#
  On Spark a view is kept as a Parquet table (not partitioned, its columns in the model's order), rebuilt by every
  build. Spark keeps a view only as its SQL text in the metastore: the readers outside Spark (the checks, the
  attestation, the snapshot) read the warehouse's Parquet through DuckDB, and the metastore's Derby database holds
  at most 32,700 characters of a view's text, which the ledger's exact arithmetic passes.
#}
{% materialization view, adapter='spark' %}
  {%- set target_relation = this.incorporate(type="table") -%}
  {%- set old_relation = adapter.get_relation(database=database, schema=schema, identifier=this.identifier) -%}
  {{ run_hooks(pre_hooks) }}
  {%- if old_relation is not none -%}
    {{ adapter.drop_relation(old_relation) }}
  {%- endif -%}
  {%- call statement("main") -%}
    create table {{ target_relation }} using parquet as
    {{ compiled_code }}
  {%- endcall -%}
  {{ run_hooks(post_hooks) }}
  {{ return({"relations": [target_relation]}) }}
{% endmaterialization %}
