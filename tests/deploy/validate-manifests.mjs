// Validates rendered Kubernetes manifests offline against the API schemas (npm kubernetes-models,
// plus the Prometheus operator's CRDs for the ServiceMonitor). Run by test_deploy:
//   node tests/deploy/validate-manifests.mjs FILE.yaml...
// Prints one line per object that fails ("FILE: Kind/name: problem") and a summary line
// "validated N objects, M invalid"; exits 1 when any object is invalid or has no known schema.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// apiVersion → the module folder holding its models. A kind we have no schema for is an error, not
// a pass: the test must not silently skip what it cannot check.
function modelModule(apiVersion, kind) {
  if (apiVersion === "v1") return `kubernetes-models/v1/${kind}`;
  if (apiVersion.startsWith("monitoring.coreos.com/"))
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate-manifests.mjs FILE.yaml...");
  process.exit(2);
}

let total = 0;
let invalid = 0;
for (const file of files) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      console.log(`${file}: not valid YAML: ${doc.errors[0].message}`);
      invalid++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    total++;
    const where = `${file}: ${obj.kind}/${obj.metadata?.name ?? "(no name)"}`;
    if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
      console.log(`${where}: apiVersion and kind are required`);
      invalid++;
      continue;
    }
    // Kustomize wraps long base64 values of Secrets over lines; the API server's decoder skips
    // line breaks, the schema's "byte" format does not: compare what the server would decode.
    if (obj.kind === "Secret" && obj.data)
      for (const key of Object.keys(obj.data))
        if (typeof obj.data[key] === "string") obj.data[key] = obj.data[key].replace(/[\r\n]/g, "");
    let Model;
    try {
      const mod = await import(modelModule(obj.apiVersion, obj.kind));
      Model = mod[obj.kind] ?? mod.default;
    } catch (e) {
      console.log(`${where}: no schema for ${obj.apiVersion} ${obj.kind} (${e.code ?? e.message})`);
      invalid++;
      continue;
    }
    try {
      const model = new Model(obj);
      model.validate();  // types, required fields, enums and formats (not unknown fields: the schemas allow them)
    } catch (e) {
      console.log(`${where}: ${e.message.split("\n").slice(0, 6).join(" | ")}`);
      invalid++;
    }
  }
}
console.log(`validated ${total} objects, ${invalid} invalid`);
process.exit(invalid === 0 && total > 0 ? 0 : 1);
