-- chroma2pg: database initialisation for PostgreSQL + pgvector
--
-- What it does (in the current database, one transaction, idempotent: run it as often as
-- you like, nothing is dropped and no data is touched):
--   1. CREATE EXTENSION vector;
--   2. the least-privilege group roles chroma2pg_migrator (writes) and chroma2pg_app (reads);
--   3. planner/cost settings for vector search, stored with ALTER DATABASE;
--   4. the registry table chroma_collections (only if chroma2pg has not created it yet);
--   5. helper functions cosine_similarity(), find_similar_documents(),
--      find_similar_documents_sql();
--   6. debugging views chroma2pg_collections_overview, chroma2pg_vector_indexes,
--      chroma2pg_vector_settings.
--
-- Run it as a superuser (or the database owner with CREATEROLE) against the target database:
--
--   psql -v ON_ERROR_STOP=1 -d "postgresql://postgres@host/db" -f sql/init-pgvector.sql
--   psql ... -v target_schema=vectors -f sql/init-pgvector.sql   # schema other than public
--                                                                # (= chroma2pg --schema)
--
-- The official postgres / pgvector Docker images run it automatically when it is mounted in
-- /docker-entrypoint-initdb.d (see deploy/docker-compose-pgvector.yml).
--
-- Needs PostgreSQL >= 14 and pgvector >= 0.5 (HNSW); >= 0.7 for indexes above 2000
-- dimensions (halfvec); >= 0.8 for iterative index scans (used when present). Run pgvector
-- 0.8.3 or newer anyway: 0.8.2 fixed an overflow in parallel HNSW builds, 0.8.3 an HNSW index
-- corruption by VACUUM.
--
-- No password is in this file. The group roles are NOLOGIN; give people and programs their
-- own login roles that are members of them, e.g. (run by the operator, password from a
-- secret store, never committed):
--
--   CREATE ROLE rag_app LOGIN PASSWORD '...' IN ROLE chroma2pg_app;
--   CREATE ROLE rag_migrate LOGIN PASSWORD '...' IN ROLE chroma2pg_migrator;
--   ALTER ROLE rag_migrate SET role = 'chroma2pg_migrator';
--
-- The last line matters: tables are owned by whoever creates them, and the default
-- privileges below (app can read what the migrator creates) are attached to the group role
-- chroma2pg_migrator. A migrator login whose sessions start as chroma2pg_migrator creates
-- tables that every member of the group can manage and the app role can read.

\set ON_ERROR_STOP on

-- Target schema: psql variable target_schema, default public.
\if :{?target_schema}
\else
\set target_schema public
\endif

BEGIN;

CREATE EXTENSION IF NOT EXISTS vector;

-- Load pgvector's library now so its settings (hnsw.*, ivfflat.*) are known to this session:
-- ALTER DATABASE below validates them.
SELECT vector_dims('[1]'::vector) AS vector_loaded \gset c2p_

CREATE SCHEMA IF NOT EXISTS :"target_schema";

-- Everything below is created in the target schema; the schema holding the extension stays on
-- the path so the vector type and operators resolve. The helper functions pin this path
-- (SET search_path FROM CURRENT) so they do not depend on the caller's search_path.
SELECT set_config(
         'search_path',
         quote_ident(:'target_schema')
           || coalesce((SELECT ', ' || quote_ident(n.nspname)
                          FROM pg_extension e
                          JOIN pg_namespace n ON n.oid = e.extnamespace
                         WHERE e.extname = 'vector' AND n.nspname <> :'target_schema'), ''),
         true) AS search_path \gset c2p_

-- ---------------------------------------------------------------------------------------
-- Roles (cluster-wide): created only when absent, never altered if they exist.
-- ---------------------------------------------------------------------------------------
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chroma2pg_migrator') THEN
    CREATE ROLE chroma2pg_migrator NOLOGIN;
    COMMENT ON ROLE chroma2pg_migrator IS
      'chroma2pg: creates and writes the migrated collections (group role, no login)';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chroma2pg_app') THEN
    CREATE ROLE chroma2pg_app NOLOGIN;
    COMMENT ON ROLE chroma2pg_app IS
      'chroma2pg: reads the migrated collections and runs the search helpers (group role, no login)';
  END IF;
END
$roles$;

-- Connect to this database, and nothing else by default. The migrator also needs TEMPORARY
-- (sync stages the source's rows in temporary tables), but not CREATE on the database: the
-- target schema exists (created above) and chroma2pg only issues CREATE SCHEMA when it does not.
DO $connect$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO chroma2pg_migrator, chroma2pg_app',
                 current_database());
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO chroma2pg_migrator', current_database());
END
$connect$;

-- Only the migrator may create objects in the target schema. (PostgreSQL 15 already revokes
-- CREATE on public from PUBLIC; older versions and non-public schemas need it said.) Tables it
-- creates belong to chroma2pg_migrator (the login's sessions SET ROLE to it, see above), and the
-- default privileges below let chroma2pg_app read them.
REVOKE CREATE ON SCHEMA :"target_schema" FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA :"target_schema" TO chroma2pg_migrator;
GRANT USAGE ON SCHEMA :"target_schema" TO chroma2pg_app;

-- ---------------------------------------------------------------------------------------
-- Planner and cost settings for vector search, stored on the database (they apply to new
-- sessions; a session or a role can still override them).
-- ---------------------------------------------------------------------------------------
DO $settings$
DECLARE
  db text := quote_ident(current_database());
BEGIN
  -- Vector indexes are read by random access (HNSW graph hops, IVFFlat list pages). On SSD
  -- storage a random page costs little more than a sequential one; the default 4.0 makes the
  -- planner avoid index scans that would be much faster.
  EXECUTE format('ALTER DATABASE %s SET random_page_cost = 1.1', db);
  -- SSD/NVMe can serve many concurrent reads: lets bitmap heap scans (metadata filters through
  -- the GIN index) prefetch.
  EXECUTE format('ALTER DATABASE %s SET effective_io_concurrency = 200', db);
  -- Short top-k queries over vectors have high estimated costs (distance functions are costed
  -- per row) and would trigger JIT compilation that takes longer than the query itself.
  EXECUTE format('ALTER DATABASE %s SET jit = off', db);
  -- HNSW candidate list at query time. pgvector defaults to 40; Chroma searches with
  -- ef_search = 100, so 100 keeps recall at least as good as the source system. It also
  -- caps how many rows one index scan returns (without iterative scans).
  EXECUTE format('ALTER DATABASE %s SET hnsw.ef_search = 100', db);
  -- pgvector >= 0.8: with a WHERE filter, keep scanning the index until LIMIT rows pass the
  -- filter instead of returning fewer rows than asked. relaxed_order is the fast mode; results
  -- may be slightly out of order, so re-sort by distance (find_similar_documents does).
  IF current_setting('hnsw.iterative_scan', true) IS NOT NULL THEN
    EXECUTE format('ALTER DATABASE %s SET hnsw.iterative_scan = relaxed_order', db);
    EXECUTE format('ALTER DATABASE %s SET ivfflat.iterative_scan = relaxed_order', db);
  END IF;
END
$settings$;

-- ---------------------------------------------------------------------------------------
-- Registry of migrated collections. chroma2pg creates it the same way (IF NOT EXISTS); it is
-- created here too so the functions and views below compile on a fresh database.
-- ---------------------------------------------------------------------------------------
DO $registry$
BEGIN
  IF to_regclass('chroma_collections') IS NULL THEN
    CREATE TABLE chroma_collections (
      id            uuid PRIMARY KEY,
      name          text UNIQUE NOT NULL,
      table_name    text NOT NULL,
      dimension     int,
      space         text NOT NULL,          -- 'l2' | 'ip' | 'cosine' (Chroma's hnsw:space)
      metadata      jsonb,
      configuration jsonb,
      source        text,
      migrated_at   timestamptz,
      record_count  bigint,
      index_method  text
    );
    -- Owned by the migrator group so every migrator login can maintain it.
    ALTER TABLE chroma_collections OWNER TO chroma2pg_migrator;
  END IF;
END
$registry$;

COMMENT ON TABLE chroma_collections IS
  'chroma2pg: one row per migrated Chroma collection; table_name is the collection''s table';

-- ---------------------------------------------------------------------------------------
-- Table privileges: existing tables now, and tables created later (by the migrator group or
-- by the role running this script) through default privileges.
-- ---------------------------------------------------------------------------------------
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES
   ON ALL TABLES IN SCHEMA :"target_schema" TO chroma2pg_migrator;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA :"target_schema" TO chroma2pg_migrator;
GRANT SELECT ON ALL TABLES IN SCHEMA :"target_schema" TO chroma2pg_app;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA :"target_schema" TO chroma2pg_app;

ALTER DEFAULT PRIVILEGES FOR ROLE chroma2pg_migrator IN SCHEMA :"target_schema"
  GRANT SELECT ON TABLES TO chroma2pg_app;
ALTER DEFAULT PRIVILEGES FOR ROLE chroma2pg_migrator IN SCHEMA :"target_schema"
  GRANT SELECT ON SEQUENCES TO chroma2pg_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA :"target_schema"
  GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON TABLES TO chroma2pg_migrator;
ALTER DEFAULT PRIVILEGES IN SCHEMA :"target_schema"
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO chroma2pg_migrator;
ALTER DEFAULT PRIVILEGES IN SCHEMA :"target_schema"
  GRANT SELECT ON TABLES TO chroma2pg_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA :"target_schema"
  GRANT SELECT ON SEQUENCES TO chroma2pg_app;

-- ---------------------------------------------------------------------------------------
-- cosine_similarity(a, b) = 1 - cosine distance, in [-1, 1]; NULL if either is NULL; NaN if
-- either vector is all zeros (as pgvector's <=>). SQL-standard body: inlinable, and bound to
-- pgvector's operator at creation time.
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION cosine_similarity(a vector, b vector)
  RETURNS double precision
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN 1 - (a <=> b);

COMMENT ON FUNCTION cosine_similarity(vector, vector) IS
  'chroma2pg: cosine similarity 1 - (a <=> b)';

-- ---------------------------------------------------------------------------------------
-- find_similar_documents_sql(collection, k, metadata_filter, document_contains)
--
-- Returns the query find_similar_documents() runs, with parameters
--   $1 vector  the query embedding
--   $2 jsonb   metadata filter (used only when metadata_filter is not NULL)
--   $3 text    document substring (used only when document_contains is not NULL)
-- so it can be inspected or EXPLAINed:
--   PREPARE q(vector, jsonb, text) AS <the text>;  EXPLAIN EXECUTE q('[...]', NULL, NULL);
--
-- The inner query orders by exactly the expression the HNSW index was built on, with the
-- operator of the collection's space, and LIMIT k: that is the shape pgvector's index serves.
-- Above 2000 dimensions the index is on (embedding::halfvec(dim)) and so is the ORDER BY.
-- The outer query reports the distance in Chroma's convention for the space, computed on
-- the full-precision vectors, and re-sorts (iterative scans in relaxed_order, and the
-- halfvec approximation, may return rows slightly out of order).
--   l2     : squared euclidean      = (a <-> b)^2
--   ip     : 1 - dot product        = 1 + (a <#> b)
--   cosine : 1 - cosine similarity  = a <=> b
-- similarity is always the cosine similarity of record and query.
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION find_similar_documents_sql(
    collection_name   text,
    k                 integer DEFAULT 10,
    metadata_filter   jsonb   DEFAULT NULL,
    document_contains text    DEFAULT NULL)
  RETURNS text
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $fn$
DECLARE
  reg_schema text;
  tbl        text;
  sp         text;
  dim        integer;
  op         text;
  ord_col    text;
  ord_query  text;
  chroma_distance text;
  conds      text[] := ARRAY[]::text[];
BEGIN
  IF collection_name IS NULL THEN
    RAISE EXCEPTION 'chroma2pg: collection_name must not be NULL' USING ERRCODE = '22004';
  END IF;
  IF k IS NULL OR k < 1 THEN
    RAISE EXCEPTION 'chroma2pg: k must be a positive integer, got %', coalesce(k::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;

  SELECT n.nspname INTO reg_schema
    FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace
   WHERE r.oid = 'chroma_collections'::regclass;

  SELECT c.table_name, c.space, c.dimension INTO tbl, sp, dim
    FROM chroma_collections c
   WHERE c.name = find_similar_documents_sql.collection_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'chroma2pg: no collection named % in %.chroma_collections',
                    quote_literal(collection_name), quote_ident(reg_schema)
      USING ERRCODE = '42704',
            HINT = 'SELECT name FROM chroma_collections lists the migrated collections';
  END IF;
  IF to_regclass(format('%I.%I', reg_schema, tbl)) IS NULL THEN
    RAISE EXCEPTION 'chroma2pg: collection % is registered with table %, which does not exist',
                    quote_literal(collection_name), format('%I.%I', reg_schema, tbl)
      USING ERRCODE = '42P01';
  END IF;

  IF dim IS NULL THEN  -- registry without a dimension: take it from the column type
    SELECT nullif(a.atttypmod, -1) INTO dim
      FROM pg_attribute a
     WHERE a.attrelid = format('%I.%I', reg_schema, tbl)::regclass
       AND a.attname = 'embedding' AND NOT a.attisdropped;
  END IF;

  op := CASE sp WHEN 'l2' THEN '<->' WHEN 'ip' THEN '<#>' WHEN 'cosine' THEN '<=>' END;
  IF op IS NULL THEN
    RAISE EXCEPTION 'chroma2pg: collection % has unknown distance space %',
                    quote_literal(collection_name), quote_literal(sp)
      USING ERRCODE = '22023', HINT = 'space must be one of l2, ip, cosine';
  END IF;

  IF dim IS NOT NULL AND dim > 2000 THEN
    ord_col   := format('(t.embedding::halfvec(%s))', dim);
    ord_query := format('($1::halfvec(%s))', dim);
  ELSE
    ord_col   := 't.embedding';
    ord_query := '$1';
  END IF;

  chroma_distance := CASE sp
    WHEN 'l2'     THEN '((s.embedding <-> $1) ^ 2)'
    WHEN 'ip'     THEN '(1 + (s.embedding <#> $1))'
    WHEN 'cosine' THEN '(s.embedding <=> $1)'
  END;

  IF metadata_filter IS NOT NULL THEN
    conds := conds || 't.metadata @> $2'::text;
  END IF;
  IF document_contains IS NOT NULL THEN
    -- Chroma's where_document {"$contains": ...}: case-sensitive substring.
    conds := conds || 'strpos(t.document, $3) > 0'::text;
  END IF;

  RETURN format(
    'SELECT s.id, s.document, s.metadata, %1$s::double precision AS distance, '
      '(1 - (s.embedding <=> $1))::double precision AS similarity '
    'FROM (SELECT t.id, t.document, t.metadata, t.embedding '
          'FROM %2$I.%3$I t%4$s '
          'ORDER BY %5$s %6$s %7$s '
          'LIMIT %8$s) s '
    'ORDER BY distance, s.id',
    chroma_distance, reg_schema, tbl,
    CASE WHEN cardinality(conds) > 0 THEN ' WHERE ' || array_to_string(conds, ' AND ') ELSE '' END,
    ord_col, op, ord_query, k);
END
$fn$;

COMMENT ON FUNCTION find_similar_documents_sql(text, integer, jsonb, text) IS
  'chroma2pg: the SQL that find_similar_documents runs ($1 query vector, $2 jsonb filter, $3 text), for EXPLAIN';

-- ---------------------------------------------------------------------------------------
-- find_similar_documents(collection, query, k, metadata_filter, document_contains)
--
-- Hybrid search over a migrated collection: the k records nearest to `query` (by the
-- collection's own distance space, through its HNSW index) among those whose metadata
-- contains `metadata_filter` (jsonb @>, e.g. '{"topic": "billing"}') and whose document
-- contains `document_contains` (case-sensitive substring). Returns the distance in Chroma's
-- convention for the space and the cosine similarity.
--
-- For this call only (the previous values are restored before returning): hnsw.ef_search is
-- raised to k when k is larger (it caps the rows one index scan returns), and with pgvector
-- >= 0.8 hnsw.iterative_scan = relaxed_order, so a selective filter still yields k rows.
--
--   SELECT * FROM find_similar_documents('docs', '[0.1, 0.2, ...]', 5, '{"lang": "en"}');
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION find_similar_documents(
    collection_name   text,
    query             vector,
    k                 integer DEFAULT 10,
    metadata_filter   jsonb   DEFAULT NULL,
    document_contains text    DEFAULT NULL)
  RETURNS TABLE (id text, document text, metadata jsonb,
                 distance double precision, similarity double precision)
  LANGUAGE plpgsql VOLATILE
  SET search_path FROM CURRENT
AS $fn$
DECLARE
  sql           text;
  coll_dim      integer;
  old_ef        text := current_setting('hnsw.ef_search', true);
  old_iterative text := current_setting('hnsw.iterative_scan', true);
BEGIN
  IF query IS NULL THEN
    RAISE EXCEPTION 'chroma2pg: query vector must not be NULL' USING ERRCODE = '22004';
  END IF;

  -- Builds the query; raises for an unknown collection, bad k or unknown space.
  sql := find_similar_documents_sql(collection_name, k, metadata_filter, document_contains);

  SELECT c.dimension INTO coll_dim FROM chroma_collections c
   WHERE c.name = find_similar_documents.collection_name;
  IF coll_dim IS NOT NULL AND vector_dims(query) <> coll_dim THEN
    RAISE EXCEPTION 'chroma2pg: query has % dimensions but collection % has %',
                    vector_dims(query), quote_literal(collection_name), coll_dim
      USING ERRCODE = '22000';
  END IF;

  IF old_ef IS NOT NULL AND old_ef::integer < least(k, 1000) THEN
    PERFORM set_config('hnsw.ef_search', least(k, 1000)::text, true);
  END IF;
  IF old_iterative IS NOT NULL AND old_iterative = 'off' THEN
    PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
  END IF;

  RETURN QUERY EXECUTE sql USING query, metadata_filter, document_contains;

  -- RETURN QUERY has run the query to completion: put the settings back. (On an error the
  -- transaction's rollback restores them.)
  IF old_ef IS NOT NULL THEN
    PERFORM set_config('hnsw.ef_search', old_ef, true);
  END IF;
  IF old_iterative IS NOT NULL THEN
    PERFORM set_config('hnsw.iterative_scan', old_iterative, true);
  END IF;
END
$fn$;

COMMENT ON FUNCTION find_similar_documents(text, vector, integer, jsonb, text) IS
  'chroma2pg: k nearest records of a migrated collection, filtered by jsonb containment and document substring';

REVOKE ALL ON FUNCTION cosine_similarity(vector, vector) FROM PUBLIC;
REVOKE ALL ON FUNCTION find_similar_documents_sql(text, integer, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION find_similar_documents(text, vector, integer, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cosine_similarity(vector, vector)
  TO chroma2pg_app, chroma2pg_migrator;
GRANT EXECUTE ON FUNCTION find_similar_documents_sql(text, integer, jsonb, text)
  TO chroma2pg_app, chroma2pg_migrator;
GRANT EXECUTE ON FUNCTION find_similar_documents(text, vector, integer, jsonb, text)
  TO chroma2pg_app, chroma2pg_migrator;

-- ---------------------------------------------------------------------------------------
-- Debugging views
-- ---------------------------------------------------------------------------------------

-- One row per registered collection: what was migrated, how big it is now.
-- record_count is what chroma2pg recorded; estimated_rows is the planner's estimate
-- (pg_class.reltuples, exact after ANALYZE, NULL before the first ANALYZE); use
-- SELECT count(*) on the table for an exact figure.
CREATE OR REPLACE VIEW chroma2pg_collections_overview AS
SELECT c.name,
       c.table_name,
       c.record_count,
       CASE WHEN t.reltuples >= 0 THEN t.reltuples::bigint END       AS estimated_rows,
       c.dimension,
       c.space,
       c.index_method,
       c.migrated_at,
       t.oid IS NOT NULL                                             AS table_exists,
       pg_table_size(t.oid)                                          AS table_bytes,
       pg_indexes_size(t.oid)                                        AS index_bytes,
       pg_size_pretty(pg_table_size(t.oid))                          AS table_size,
       pg_size_pretty(pg_indexes_size(t.oid))                        AS index_size,
       pg_size_pretty(pg_total_relation_size(t.oid))                 AS total_size
  FROM chroma_collections c
  LEFT JOIN pg_class t
         ON t.relname = c.table_name
        AND t.relnamespace = (SELECT r.relnamespace FROM pg_class r
                               WHERE r.oid = 'chroma_collections'::regclass)
        AND t.relkind IN ('r', 'p');

COMMENT ON VIEW chroma2pg_collections_overview IS
  'chroma2pg: migrated collections with counts, dimension, space, table and index sizes';

-- Every index in the target schema's collection tables, with its access method, operator
-- class and size: shows whether each collection got the HNSW/IVFFlat index of its space.
CREATE OR REPLACE VIEW chroma2pg_vector_indexes AS
SELECT c.name                                   AS collection,
       c.space,
       i.relname                                AS index_name,
       am.amname                                AS method,
       (SELECT string_agg(oc.opcname, ', ' ORDER BY k.ord)
          FROM unnest(x.indclass::oid[]) WITH ORDINALITY AS k(opc, ord)
          JOIN pg_opclass oc ON oc.oid = k.opc)  AS opclasses,
       x.indisvalid                             AS valid,
       pg_relation_size(i.oid)                  AS index_bytes,
       pg_size_pretty(pg_relation_size(i.oid))  AS index_size,
       pg_get_indexdef(i.oid)                   AS definition
  FROM chroma_collections c
  JOIN pg_class t
    ON t.relname = c.table_name
   AND t.relnamespace = (SELECT r.relnamespace FROM pg_class r
                          WHERE r.oid = 'chroma_collections'::regclass)
  JOIN pg_index x ON x.indrelid = t.oid
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_am am ON am.oid = i.relam;

COMMENT ON VIEW chroma2pg_vector_indexes IS
  'chroma2pg: indexes of the migrated collection tables, with method, operator class and size';

-- The server settings that decide vector load, index build and search speed, as in force
-- for the session reading the view, with a short piece of advice each.
CREATE OR REPLACE VIEW chroma2pg_vector_settings AS
SELECT v.name,
       current_setting(v.name, true) AS setting,
       s.unit,
       s.source,
       v.advice
  FROM (VALUES
    ('shared_buffers',
     'about 25% of RAM; ideally large enough to hold the HNSW indexes (see chroma2pg_collections_overview.index_bytes)'),
    ('effective_cache_size',
     '50-75% of RAM: tells the planner how much of the indexes the OS cache holds'),
    ('work_mem',
     '16-64MB: per sort/hash node; exact (non-index) searches sort in it'),
    ('maintenance_work_mem',
     'HNSW builds are much faster when the graph fits: a NOTICE says when it no longer does. 1-8GB while building indexes (and shm_size at least as large in Docker)'),
    ('max_parallel_maintenance_workers',
     'parallel HNSW/IVFFlat builds (pgvector >= 0.6): up to the number of cores minus one'),
    ('max_parallel_workers',
     'upper bound for all parallel workers; at least max_parallel_maintenance_workers'),
    ('max_parallel_workers_per_gather',
     'parallel exact scans; 2-4 helps exact searches and COUNT(*) on large tables'),
    ('max_worker_processes',
     'must be at least max_parallel_workers (needs a restart)'),
    ('hnsw.ef_search',
     'HNSW candidate list per query (default 40); 100 matches Chroma. Higher = better recall, slower; also caps rows per index scan'),
    ('hnsw.iterative_scan',
     'pgvector >= 0.8: relaxed_order lets filtered queries keep scanning until LIMIT rows pass the filter'),
    ('hnsw.max_scan_tuples',
     'pgvector >= 0.8: how far an iterative scan may go (default 20000)'),
    ('ivfflat.probes',
     'IVFFlat lists searched per query; about sqrt(lists)'),
    ('random_page_cost',
     '1.1 on SSD: index scans (HNSW) are random reads; the default 4.0 is for spinning disks'),
    ('effective_io_concurrency',
     '200 on SSD: prefetching for bitmap heap scans (metadata filters)'),
    ('jit',
     'off for short vector queries: compilation costs more than it saves'),
    ('max_wal_size',
     'raise (e.g. 4-16GB) during the bulk load to avoid checkpoints every few seconds'),
    ('checkpoint_timeout',
     '15min or more during the bulk load'),
    ('synchronous_commit',
     'keep on for production data; chroma2pg commits in batches, so the cost is small'),
    ('max_connections',
     'each connection costs memory; pool connections from the application')
  ) AS v(name, advice)
  -- Loads pgvector's library while the query is planned, so its hnsw.* / ivfflat.* settings
  -- are defined (not mere placeholders) when the rows are read.
  CROSS JOIN (SELECT 1 WHERE vector_dims('[1]'::vector) = 1) AS loaded(ok)
  LEFT JOIN pg_settings s ON s.name = v.name;

COMMENT ON VIEW chroma2pg_vector_settings IS
  'chroma2pg: settings that matter for vector search and index builds, with advice';

-- Read-only for both roles (the default privileges above would also give the migrator
-- write privileges on them).
REVOKE ALL ON chroma2pg_collections_overview, chroma2pg_vector_indexes,
              chroma2pg_vector_settings FROM chroma2pg_app, chroma2pg_migrator;
GRANT SELECT ON chroma2pg_collections_overview, chroma2pg_vector_indexes,
                chroma2pg_vector_settings TO chroma2pg_app, chroma2pg_migrator;

COMMIT;
