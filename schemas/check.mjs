// Checks rendered Istio and cert-manager objects against the models generated from their CRDs
// (@kubernetes-models: Istio 1.29 crd-all.gen.yaml, cert-manager 1.20 API): types, enums and
// required fields through the models' own validators, and unknown fields through the models'
// TypeScript declarations (the CRD schemas do not forbid extra keys; the API server would drop
// or refuse them). Reads [{file, body}] as JSON on stdin, prints [{file, path, message}].
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const PACKAGES = {
  "networking.istio.io": "@kubernetes-models/istio",
  "security.istio.io": "@kubernetes-models/istio",
  "cert-manager.io": "@kubernetes-models/cert-manager",
};

function moduleFor(apiVersion, kind) {
  const group = apiVersion.split("/")[0];
  const pkg = PACKAGES[group];
  if (!pkg) return null;
  const base = path.join(here, "node_modules", pkg, apiVersion, kind);
  return { js: `${base}.js`, dts: `${base}.d.ts` };
}

function declaredTypes(dtsPaths) {
  // One TypeScript program for every declaration file needed: the checker resolves references.
  const program = ts.createProgram([...dtsPaths], { skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const roots = new Map();
  for (const dts of dtsPaths) {
    ts.forEachChild(program.getSourceFile(dts), (node) => {
      if (ts.isInterfaceDeclaration(node)) roots.set(`${dts}#${node.name.text}`, checker.getTypeAtLocation(node));
    });
  }
  return { checker, roots };
}

function unknownFields({ checker, roots }, dtsPath, kind, body) {
  const root = roots.get(`${dtsPath}#I${kind}`);
  if (!root) return [{ path: "", message: `no declaration I${kind} in ${dtsPath}` }];
  const problems = [];
  // oneOf schemas become unions and intersections of alternatives (arrays too): a key is known
  // when any alternative declares it, so walk every candidate type at once.
  const flatten = (t) => (t.isUnion() || t.isIntersection() ? t.types.flatMap(flatten) : [t]);
  const walk = (value, types, where) => {
    const objects = types.flatMap(flatten).filter((t) => t.flags & ts.TypeFlags.Object);
    if (!objects.length) return; // scalars and literals: the validator checks them
    if (Array.isArray(value)) {
      const elements = objects.filter((t) => checker.isArrayType(t)).map((t) => checker.getTypeArguments(t)[0]);
      if (elements.length) value.forEach((item, i) => walk(item, elements, `${where}[${i}]`));
      return;
    }
    if (value === null || typeof value !== "object") return;
    const indexes = objects.map((t) => t.getStringIndexType()).filter(Boolean);
    if (indexes.length) {
      for (const [key, inner] of Object.entries(value)) walk(inner, indexes, `${where}.${key}`);
      return;
    }
    for (const [key, inner] of Object.entries(value)) {
      const symbols = objects.map((t) => t.getProperty(key)).filter(Boolean);
      if (!symbols.length) {
        problems.push({ path: `${where}.${key}`.replace(/^\./, ""), message: "unknown field" });
        continue;
      }
      walk(inner, symbols.map((symbol) => checker.getTypeOfSymbol(symbol)), `${where}.${key}`);
    }
  };
  walk(body, [root], "");
  return problems;
}

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const results = [];
const modules = input.map(({ body }) => moduleFor(body.apiVersion, body.kind));
const types = declaredTypes(new Set(modules.filter((m) => m && fs.existsSync(m.dts)).map((m) => m.dts)));
for (const [i, { file, body }] of input.entries()) {
  const found = modules[i];
  if (!found || !fs.existsSync(found.js)) {
    results.push({ file, path: "apiVersion", message: `no model for ${body.apiVersion} ${body.kind}` });
    continue;
  }
  const model = (await import(found.js))[body.kind];
  try {
    new model(body).validate();
  } catch (error) {
    for (const line of String(error.message).split(", ")) {
      const [where, ...rest] = line.replace(/^data\//, "").split(" ");
      results.push({ file, path: where.replaceAll("/", "."), message: rest.join(" ") });
    }
  }
  for (const problem of unknownFields(types, found.dts, body.kind, body)) results.push({ file, ...problem });
}
process.stdout.write(JSON.stringify(results));
