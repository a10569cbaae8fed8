// SPDX-License-Identifier: MIT
// check_openapi.mjs: keeps GET /openapi.json true. It validates the document
// the running server serves with a real OpenAPI 3.1 validator
// (@apidevtools/swagger-parser), then sends the server real requests, answers
// and errors of every kind, and validates each response (status, content
// type, body, the headers the document describes) against the document's
// schemas with a JSON Schema 2020-12 validator (ajv). It also reads the
// server's sources for every error code it can send and requires the
// document to list each one.
import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv2020 from "ajv/dist/2020.js";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildSnapshot, check, env, scratch, startServer } from "./server.mjs";

const dir = scratch();
const snap = buildSnapshot(dir, "api", ["new york city\t30000\tcities,us", "Straße\t500\tstreets"]);
const server = await startServer(["--index", "default=" + snap, "--index", "other=" + snap], dir);
let failed = false;
try {
  const raw = await (await fetch(server.url + "/openapi.json")).json();
  await SwaggerParser.validate(structuredClone(raw)); // throws on any violation of OpenAPI 3.1
  const doc = await SwaggerParser.dereference(structuredClone(raw));
  check(doc.openapi === "3.1.0", "OpenAPI 3.1: " + doc.openapi);

  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const schemaCheck = (schema, value, what) => {
    const validate = ajv.compile(schema);
    check(validate(value), `${what}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(value).slice(0, 300)}`);
  };

  // The document's operation for a concrete path: literal paths first, then templates.
  const operation = (path, method) => {
    const bare = path.split("?")[0];
    let tmpl = doc.paths[bare] ? bare : null;
    if (!tmpl)
      tmpl = Object.keys(doc.paths).find((t) =>
        new RegExp("^" + t.replace(/\{[^}]+\}/g, "[^/]+") + "$").test(bare));
    return tmpl ? doc.paths[tmpl][method.toLowerCase()] : null;
  };

  const cases = [
    ["GET", "/v1/complete?q=th", 200],
    ["GET", "/v1/complete?q=wrld&typos=1&match=prefix&k=5", 200],
    ["GET", "/v1/complete?q=york&match=words", 200],
    ["GET", "/v1/complete?q=strass", 200],
    ["GET", "/v1/complete?q=", 200],
    ["GET", "/v1/complete?q=th&format=opensearch", 200],
    ["GET", "/v1/indexes/other/complete?q=new+y&k=3", 200],
    ["GET", "/v1/indexes", 200],
    ["GET", "/v1/complete?q=new&context=cities", 200],
    ["GET", "/v1/complete?q=new&context=%20us%20&typos=0", 200],
    ["GET", "/v1/complete?q=new&context=nowhere", 200],
    ["GET", "/v1/complete?q=new&context=a,b", 400],
    ["GET", "/v1/complete?q=new&context=", 400],
    ["GET", "/v1/indexes/default/contexts", 200],
    ["GET", "/v1/indexes/nope/contexts", 404],
    ["OPTIONS", "/v1/indexes/default/contexts", 204],
    ["GET", "/healthz", 200],
    ["GET", "/readyz", 200],
    ["GET", "/", 200],
    ["GET", "/ui/app.js", 200],
    ["GET", "/openapi.json", 200],
    ["HEAD", "/v1/complete?q=th", 200],
    ["OPTIONS", "/v1/complete", 204],
    ["GET", "/v1/complete?q=th&k=0", 400],
    ["GET", "/v1/complete?q=th&k=abc", 400],
    ["GET", "/v1/complete?q=th&typos=3", 400],
    ["GET", "/v1/complete?q=th&match=infix", 400],
    ["GET", "/v1/complete?q=th&format=xml", 400],
    ["GET", "/v1/complete?q=%zz", 400],
    ["GET", "/v1/complete?q=%FF", 400],
    ["GET", "/v1/complete?q=" + "x".repeat(300), 400],
    ["GET", "/v1/indexes/nope/complete?q=a", 404],
    ["POST", "/v1/complete?q=a", 405],
    ["DELETE", "/healthz", 405],
    ["PUT", "/v1/indexes", 405],
  ];
  for (const [method, path, status] of cases) {
    const what = `${method} ${path.slice(0, 60)}`;
    const r = await fetch(server.url + path, { method });
    check(r.status === status, `${what}: status ${r.status}, want ${status}`);
    const op = operation(path, method);
    // A method the path does not have: the document's 405, on a path it does describe.
    check(op || (status === 405 && operation(path, "GET")), `${what}: the document has no such operation`);
    const resp = op ? op.responses[String(status)] : doc.components.responses.MethodNotAllowed;
    check(resp, `${what}: the document has no ${status} response`);
    const body = method === "HEAD" ? "" : await r.text();
    if (!resp.content) {
      check(body === "", `${what}: a body where the document has none`);
      continue;
    }
    const ctype = (r.headers.get("content-type") || "").split(";")[0];
    const media = resp.content[ctype];
    check(media, `${what}: content type ${ctype} is not in the document (${Object.keys(resp.content)})`);
    if (method === "HEAD") continue;
    if (ctype.endsWith("json")) schemaCheck(media.schema, JSON.parse(body), what);
    for (const [name, h] of Object.entries(resp.headers || {})) {
      const v = r.headers.get(name);
      check(v !== null, `${what}: header ${name} is missing`);
      if (h.schema) schemaCheck(h.schema, v, `${what}: header ${name}`);
    }
  }

  // Every error code the server can send is in the document.
  const codes = new Set();
  const srcDir = join(env("AH_SOURCE_DIR"), "server");
  for (const f of readdirSync(srcDir).filter((f) => f.endsWith(".c"))) {
    const src = readFileSync(join(srcDir, f), "utf8");
    if (f === "admin.c" || f === "metrics.c") continue; // the admin listener is not the public API
    for (const m of src.matchAll(/ah_http_send_error\(\s*req,\s*\d+,\s*"([a-z_]+)"/g)) codes.add(m[1]);
    // request.c's refusals of parameters, and early_errors.c's codes for libh2o's own errors.
    for (const m of src.matchAll(/(?:refuse\(\s*e,\s*|e->code = |\*code = (?:[^;"]*\? )?)"([a-z_]+)"/g)) codes.add(m[1]);
  }
  const documented = new Set(doc.components.schemas.Error.properties.error.properties.code.enum);
  check(codes.size >= 10, "found the server's error codes: " + [...codes]);
  for (const c of codes) check(documented.has(c), `error code ${c} is not in the document`);
  console.log(`check_openapi: the document is valid OpenAPI 3.1; ${cases.length} real responses match it; ${codes.size} error codes documented`);
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
} finally {
  await server.stop();
}
process.exit(failed ? 1 : 0);
