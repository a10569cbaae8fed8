-- SPDX-License-Identifier: MIT
--
-- aggregate.sql: raw query logs to ahead-build's input, in a data engine.
--
-- Sums each distinct query's hits, each hit weighted by its age: a hit
-- ${half_life_days} days old counts half, twice that a quarter (exponential
-- decay, so yesterday's trends outrank last year's). The result is the view
-- ahead_counts (text, count), to be written as tab-separated part files
-- that `ahead-build DIR -o OUT` reads as they stand (header line, quoting
-- and _SUCCESS markers included).
--
-- The query is in the SQL that DuckDB and Spark share. Before it runs:
--
-- 1. Define the view ahead_log (query, ts_epoch): one row per hit, the text
--    typed and its time in seconds since 1970 (NULL when the log has no
--    time: the hit then counts 1). For example, in DuckDB:
--      JSON lines {"q": "...", "ts": "2026-12-01T10:00:00Z"}:
--        CREATE OR REPLACE TEMPORARY VIEW ahead_log AS
--          SELECT q AS query, epoch(CAST(ts AS TIMESTAMP)) AS ts_epoch
--          FROM read_json('logs/*.jsonl', columns = {q: 'VARCHAR', ts: 'VARCHAR'});
--      one query per line:
--        CREATE OR REPLACE TEMPORARY VIEW ahead_log AS
--          SELECT query, CAST(NULL AS DOUBLE) AS ts_epoch
--          FROM read_csv('queries.txt', columns = {query: 'VARCHAR'}, header = false,
--                        delim = chr(1), quote = '', escape = '', auto_detect = false);
--    and in Spark SQL:
--        CREATE OR REPLACE TEMPORARY VIEW ahead_log AS
--          SELECT q AS query, unix_timestamp(to_timestamp(ts)) AS ts_epoch
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
-- hits from now. Counts that round to 0 are left out.

CREATE OR REPLACE TEMPORARY VIEW ahead_counts AS
SELECT text, CAST(ROUND(SUM(weight)) AS BIGINT) AS count
FROM (
    SELECT
        trim(translate(query, chr(9) || chr(10) || chr(13), '   ')) AS text,
        CASE
            WHEN ts_epoch IS NULL THEN 1.0
            ELSE power(0.5, greatest(0.0, ${now_epoch} - ts_epoch) / (86400.0 * ${half_life_days}))
        END AS weight
    FROM ahead_log
    WHERE query IS NOT NULL
) AS hits
WHERE text <> ''
GROUP BY text
HAVING ROUND(SUM(weight)) >= 1;
