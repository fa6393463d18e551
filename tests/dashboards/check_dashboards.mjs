// Type-check Grafana dashboard JSON against @grafana/schema's Dashboard type with tsc:
// excess-property checks catch unknown keys, and wrong types fail. Run from this directory
// (node_modules here, installed by `make deps`): node check_dashboards.mjs FILE.json...
// Exit 0: all type-check; otherwise tsc's errors are printed (each names the temp .ts file,
// whose first line names the dashboard).
// Grafana's types use TypeScript string enums (ThresholdsMode, FieldColorModeId, ...), to which
// the JSON's plain strings ("absolute") are not assignable; `Json<T>` swaps every string enum for
// the union of its values (`${E}`) and keeps everything else, excess-property checks included.
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";

const PRELUDE = `import type { Dashboard } from "@grafana/schema";
// what Grafana's "Export for sharing externally" adds (grafana.com import): __inputs, __requires
type Shared = {
  __inputs?: Array<{ name: string; label: string; description?: string; type: "datasource";
                     pluginId: string; pluginName: string }>;
  __requires?: Array<{ type: "grafana" | "datasource" | "panel"; id: string; name: string;
                       version: string }>;
};
type Json<T> = T extends string ? (string extends T ? string : \`\${T}\`)
  : T extends number | boolean | null | undefined ? T
  : T extends Array<infer U> ? Array<Json<U>>
  : T extends object ? { [K in keyof T]: Json<T[K]> } : T;
`;
const here = path.dirname(new URL(import.meta.url).pathname);
const dir = fs.mkdtempSync(path.join(here, ".dashcheck-"));
try {
  const files = process.argv.slice(2).map((f, i) => {
    const json = fs.readFileSync(f, "utf8");
    JSON.parse(json);
    const ts = path.join(dir, `d${i}_${path.basename(f, ".json").replace(/\W/g, "_")}.ts`);
    fs.writeFileSync(ts, `// ${f}\n${PRELUDE}export const d: Json<Dashboard> & Shared = ${json};\n`);
    return ts;
  });
  const r = spawnSync(path.join(here, "node_modules/.bin/tsc"),
    ["--noEmit", "--strict", "--skipLibCheck", "--module", "esnext", "--moduleResolution",
     "bundler", "--target", "es2022", ...files], { stdio: "inherit" });
  if (r.status === 0) console.log(`${files.length} dashboard(s) type-check OK`);
  process.exitCode = r.status ?? 1;
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
