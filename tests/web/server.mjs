// SPDX-License-Identifier: MIT
// server.mjs: what the web tests share: build a snapshot with the real
// ahead-build, start the real ahead-serve on free ports (it logs the ports
// it got), ask it over HTTP, stop it. Paths come from the environment that
// tests/CMakeLists.txt sets (AH_BUILD_BIN, AH_SERVE_BIN, AH_SOURCE_DIR).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this test through ctest`);
  return v;
};

// A scratch directory, removed when the process exits.
export function scratch() {
  const dir = mkdtempSync(join(tmpdir(), "ahead-web-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Builds a snapshot from the shipped sample data plus extra text<TAB>count lines.
export function buildSnapshot(dir, name, extraLines = []) {
  const tsv = join(dir, name + ".tsv");
  const sample = readFileSync(join(env("AH_SOURCE_DIR"), "data", "sample.tsv"), "utf8");
  writeFileSync(tsv, sample + extraLines.map((l) => l + "\n").join(""));
  const snap = join(dir, name + ".snap");
  execFileSync(env("AH_BUILD_BIN"), ["--quiet", tsv, "-o", snap], { stdio: "inherit" });
  return snap;
}

// Starts ahead-serve with args; resolves to { url, stop() } once it is ready.
export function startServer(args, dir) {
  const log = join(dir, "serve-" + Date.now() + ".log");
  const child = spawn(
    env("AH_SERVE_BIN"),
    ["--listen", "127.0.0.1:0", "--admin-listen", "off", "--threads", "1", ...args],
    { stdio: ["ignore", "pipe", "pipe"] }
  );
  let out = "";
  const collect = (d) => {
    out += d;
    writeFileSync(log, out);
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("ahead-serve did not start:\n" + out)), 30000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`ahead-serve exited with ${code}:\n${out}`));
    });
    const poll = setInterval(() => {
      const port = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (port && out.includes("ahead-serve: ready")) {
        clearInterval(poll);
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve({
          url: `http://127.0.0.1:${port[1]}`,
          log: () => out,
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.on("exit", () => done());
              child.kill("SIGTERM");
            }),
        });
      }
    }, 20);
  });
}

// A failed check: the message, and the process ends non-zero.
export function check(cond, message) {
  if (!cond) throw new Error("check failed: " + message);
}
