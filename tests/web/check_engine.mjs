// SPDX-License-Identifier: MIT
// check_engine.mjs: builder/aggregate.sql in a real data engine (DuckDB, from
// npm with its native library), end to end. It generates a query log (JSON
// lines with timestamps, and a file of one query per line), aggregates it
// with aggregate.sql into a directory of gzip part files as DuckDB writes them
// (Hive partition folders, header lines, quoted texts), and builds a snapshot
// from that directory. The same decayed counts, computed here independently
// and given to ahead-build as one plain file, must build the identical
// snapshot, byte for byte. The log's hits carry contexts (a department,
// several, or none), so each text's count in each context is checked too.
import { DuckDBInstance } from "@duckdb/node-api";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { check, env, scratch } from "./server.mjs";

const dir = scratch();
const HALF_LIFE_DAYS = 7;
const NOW = 1764892800; // 2025-12-05T00:00:00Z, the time the counts decay to
const DAY = 86400;

// A fixed pseudo-random sequence, so a failure can be replayed.
let seed = 0x2545f491;
const rand = (n) => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};

// Texts a real log holds: case and accent variants of one query, quotes in
// both CSV dialects' way, a backslash before a quote, tabs and line breaks,
// padding, a comma, text that is only spaces.
const texts = [
  "new york", "New York", "new york city", "São Paulo", "sao paulo", "Straße",
  "café au lait", 'say "hi"', '"exact phrase"', 'a\\"b', "back\\slash", "tab\there",
  "line\nbreak", "  padded  ", "a, b", "ünïcödé", "日本語", "   ",
];
// Ages are whole half-lives (weights 1, 1/2, ... 1/16, exact in binary, so
// sums do not depend on the order the engine adds them in), or in the future.
const ages = [0, 1, 2, 3, 4, -1];

// Contexts of a hit: none (null, or only spaces), one, two in one field.
const contexts = [null, null, "shoes", "men", "shoes,men", "café", "  ", "Kids"];

const jsonLines = [];
const rawLines = [];
// (text as aggregate.sql cleans it, context as it trims it) -> summed weight
const expected = new Map();
const clean = (q) => q.replace(/[\t\n\r]/g, " ").replace(/^ +| +$/g, "");
const add = (q, weight, dept = null) => {
  const t = clean(q);
  const c = dept === null || clean(dept) === "" ? "" : clean(dept);
  const key = t + "\t" + c;
  if (t !== "") expected.set(key, (expected.get(key) || 0) + weight);
};
for (let i = 0; i < 4000; i++) {
  const q = texts[rand(texts.length)];
  const dept = contexts[rand(contexts.length)];
  const age = ages[rand(ages.length)] * HALF_LIFE_DAYS * DAY;
  const ts = new Date((NOW - age) * 1000).toISOString();
  jsonLines.push(JSON.stringify({ q, ts, dept }));
  add(q, Math.pow(0.5, Math.max(0, age) / (HALF_LIFE_DAYS * DAY)), dept);
}
jsonLines.push(JSON.stringify({ q: null, ts: new Date(NOW * 1000).toISOString() }));
jsonLines.push(JSON.stringify({ q: "no time given", ts: null }));
add("no time given", 1);
for (let i = 0; i < 500; i++) {
  const q = texts[rand(texts.length)].replace(/\n/g, " "); // a line holds no line break
  rawLines.push(q);
  add(q, 1);
}
writeFileSync(join(dir, "log.jsonl"), jsonLines.join("\n") + "\n");
writeFileSync(join(dir, "queries.txt"), rawLines.join("\n") + "\n");

// What the engine must produce, as one plain file: text<TAB>count, and a
// third field for the rows with a context.
const direct = [...expected]
  .map(([key, w]) => [key, Math.round(w)])
  .filter(([, c]) => c >= 1)
  .map(([key, c]) => {
    const [t, ctx] = key.split("\t");
    return ctx === "" ? `${t}\t${c}\n` : `${t}\t${c}\t${ctx}\n`;
  })
  .join("");
check(direct.includes("\tshoes,men\n") && direct.includes("\tcafé\n"), "the log has contexts");
check(direct.includes('say "hi"\t'), "the log has a quoted text");
check([...expected.values()].some((w) => w !== Math.round(w)), "decay leaves fractions to round");
writeFileSync(join(dir, "direct.tsv"), direct);

// The engine: the log as the view ahead_log, then aggregate.sql, then COPY.
const sql = readFileSync(join(env("AH_SOURCE_DIR"), "builder", "aggregate.sql"), "utf8")
  .replaceAll("${now_epoch}", String(NOW))
  .replaceAll("${half_life_days}", String(HALF_LIFE_DAYS));
const db = await DuckDBInstance.create(":memory:");
const con = await db.connect();
await con.run(`CREATE OR REPLACE TEMPORARY VIEW ahead_log AS
  SELECT q AS query, epoch(CAST(ts AS TIMESTAMP)) AS ts_epoch, dept AS context
  FROM read_json('${join(dir, "log.jsonl")}', columns = {q: 'VARCHAR', ts: 'VARCHAR', dept: 'VARCHAR'})
  UNION ALL
  SELECT query, CAST(NULL AS DOUBLE) AS ts_epoch, CAST(NULL AS VARCHAR) AS context
  FROM read_csv('${join(dir, "queries.txt")}', columns = {query: 'VARCHAR'}, header = false,
                delim = chr(1), quote = '', escape = '', auto_detect = false)`);
await con.run(sql);
const parts = join(dir, "counts");
await con.run(`COPY (SELECT text, count, contexts, length(text) % 3 AS shard FROM ahead_counts)
  TO '${parts}' (FORMAT csv, DELIMITER '\t', COMPRESSION gzip, PARTITION_BY (shard))`);
// What Spark leaves beside its part files; ahead-build must pass over them.
writeFileSync(join(parts, "_SUCCESS"), "");
writeFileSync(join(parts, ".part-00000.csv.gz.crc"), "crc\t1\n");
const written = execFileSync("find", [parts, "-type", "f"], { encoding: "utf8" });
check((written.match(/shard=\d\/.*\.csv\.gz/g) || []).length === 3, "three partitions:\n" + written);

// Both builds, then the bytes.
const build = (input, out) =>
  execFileSync(env("AH_BUILD_BIN"), [input, "-o", out], { encoding: "utf8", stdio: "pipe" });
const fromEngine = join(dir, "engine.snap");
const fromDirect = join(dir, "direct.snap");
build(parts, fromEngine);
build(join(dir, "direct.tsv"), fromDirect);
const a = readFileSync(fromEngine);
const b = readFileSync(fromDirect);
if (!a.equals(b)) {
  const show = (snap) =>
    execFileSync(env("AH_QUERY_BIN"), [snap, "-k", "10", ""], { encoding: "utf8" });
  throw new Error(`the engine's snapshot differs:\n${show(fromEngine)}\nfrom the direct one:\n${show(fromDirect)}`);
}
const top = execFileSync(env("AH_QUERY_BIN"), [fromEngine, "-k", "3", "say"], { encoding: "utf8" });
check(top.startsWith('say "hi"\t'), "the quoted text survives: " + top);
const stats = JSON.parse(execFileSync(env("AH_QUERY_BIN"), [fromEngine, "--stats"], { encoding: "utf8" }));
check(stats.contexts === 4, "four contexts (shoes, men, café, Kids): " + stats.contexts);
console.log(`check_engine: ${expected.size} texts, snapshot ${a.length} bytes, identical both ways`);
