-- SPDX-License-Identifier: MIT
--
-- aggregate.sql: raw query logs to ahead-build's input, in a data engine.
--
-- Sums each distinct query's hits, each hit weighted by its age: a hit
-- ${half_life_days} days old counts half, twice that a quarter (exponential
-- decay, so yesterday's trends outrank last year's). The result is the view
-- ahead_counts (text, count, contexts), to be written as tab-separated part
-- files that `ahead-build DIR -o OUT` reads as they stand (header line,
-- quoting and _SUCCESS markers included).
--
-- The query is in the SQL that DuckDB and Spark share. Before it runs:
--
-- 1. Define the view ahead_log (query, ts_epoch, context): one row per hit,
--    the text typed, its time in seconds since 1970 (NULL when the log has
--    no time: the hit then counts 1), and the context it was typed in (a
--    category, a store; several as "a,b"; NULL for none, and NULL AS
--    context when the log has no contexts at all). For example, in DuckDB:
--      JSON lines {"q": "...", "ts": "2026-12-01T10:00:00Z", "dept": "shoes"}:
--        CREATE OR REPLACE TEMPORARY VIEW ahead_log AS
--          SELECT q AS query, epoch(CAST(ts AS TIMESTAMP)) AS ts_epoch, dept AS context
--          FROM read_json('logs/*.jsonl', columns = {q: 'VARCHAR', ts: 'VARCHAR', dept: 'VARCHAR'});
--      one query per line:
--        CREATE OR REPLACE TEMPORARY VIEW ahead_log AS
--          SELECT query, CAST(NULL AS DOUBLE) AS ts_epoch, CAST(NULL AS VARCHAR) AS context
--          FROM read_csv('queries.txt', columns = {query: 'VARCHAR'}, header = false,
--                        delim = chr(1), quote = '', escape = '', auto_detect = false);
--    and in Spark SQL:
--        CREATE OR REPLACE TEMPORARY VIEW ahead_log AS
--          SELECT q AS query, unix_timestamp(to_timestamp(ts)) AS ts_epoch,
--                 CAST(NULL AS STRING) AS context
--          FROM json.`logs/`;
--
-- 2. Replace the two parameters: ${now_epoch}, the time the counts are
--    decayed to (seconds since 1970), and ${half_life_days} (> 0). Spark's
--    spark-sql substitutes them itself (--hivevar now_epoch=...); for
--    DuckDB, sed -e 's/${now_epoch}/1764892800/' -e 's/${half_life_days}/7/'.
--
-- 3. Write the view out, in DuckDB:
--      COPY ahead_counts TO 'counts' (FORMAT csv, DELIMITER '\t', COMPRESSION gzip,
--                                     PER_THREAD_OUTPUT true);
--    in Spark: spark.table("ahead_counts").write.csv("counts", sep="\t",
--    compression="gzip"). Then: ahead-build counts -o queries.snap
--
-- Texts are passed through as typed, but for tabs and line breaks, which
-- become spaces: ahead-build collapses whitespace and folds case and accents
-- itself, and shows the form typed most often. Hits from the future count as
-- hits from now. A row is a text in one context (or in none), its count
-- rounded on its own; counts that round to 0 are left out. A NULL context
-- is written as an empty field, which ahead-build reads as no context.

CREATE OR REPLACE TEMPORARY VIEW ahead_counts AS
SELECT text, CAST(ROUND(SUM(weight)) AS BIGINT) AS count, context AS contexts
FROM (
    SELECT
        trim(translate(query, chr(9) || chr(10) || chr(13), '   ')) AS text,
        CASE
            WHEN ts_epoch IS NULL THEN 1.0
            ELSE power(0.5, greatest(0.0, ${now_epoch} - ts_epoch) / (86400.0 * ${half_life_days}))
        END AS weight,
        NULLIF(trim(translate(context, chr(9) || chr(10) || chr(13), '   ')), '') AS context
    FROM ahead_log
    WHERE query IS NOT NULL
) AS hits
WHERE text <> ''
GROUP BY text, context
HAVING ROUND(SUM(weight)) >= 1;
