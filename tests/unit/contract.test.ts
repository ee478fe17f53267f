/**
 * The machine-readable contract (issue 15, part 3): the committed JSON Schemas, AsyncAPI and OpenAPI
 * documents are what the validators generate today (scripts/contract.ts), the AsyncAPI document parses
 * with the official AsyncAPI parser, the OpenAPI document validates with an OpenAPI 3.1 parser, and the
 * server answers /openapi.json with it. Real frames against the schemas: the conformance suite's last test.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DiagnosticSeverity, fromFile, Parser } from "@asyncapi/parser";
import { compileErrors, validate } from "@readme/openapi-parser";
import { Ajv } from "ajv";
import * as v from "valibot";
import { contractFiles } from "../../scripts/contract.ts";
import { EntriesQuery, PageQuery } from "../../src/api-schemas.ts";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";

const root = process.cwd();

describe("the contract, generated", () => {
  test("docs/schema, docs/asyncapi.yaml and docs/openapi.json are up to date with the validators", () => {
    const files = contractFiles();
    assert.ok(Object.keys(files).length > 30, "a schema per frame, and both documents");
    for (const [path, content] of Object.entries(files)) {
      let current = "";
      try {
        current = readFileSync(join(root, path), "utf8");
      } catch {}
      assert.equal(current, content, `${path} is stale: run npm run build`);
    }
  });

  test("every schema compiles with ajv, and accepts a frame the protocol shows", () => {
    const ajv = new Ajv({ strict: false });
    const schema = (kind: string, type: string) => {
      const json = JSON.parse(readFileSync(join(root, "docs/schema", kind, `${type}.json`), "utf8"));
      return ajv.getSchema(json.$id) ?? ajv.compile(json);
    };
    assert.equal(schema("client", "say")({ type: "say", text: "hi", ref: "1" }), true);
    assert.equal(schema("client", "say")({ type: "say" }), false, "text is required");
    assert.equal(schema("client", "members")({ type: "members", after: 7, limit: 500 }), true);
    assert.equal(schema("client", "members")({ type: "members", limit: 501 }), false);
    const presence = { type: "presence", joined: [{ id: "1", name: "ann" }], left: [], count: 1 };
    assert.equal(schema("server", "presence")(presence), true);
    assert.equal(schema("server", "error")({ type: "error", code: "nope", message: "x" }), false, "codes are listed");
  });

  test("docs/asyncapi.yaml parses with @asyncapi/parser (AsyncAPI 3), its schema references resolved", async () => {
    const { document, diagnostics } = await fromFile(new Parser(), join(root, "docs/asyncapi.yaml")).parse();
    const errors = diagnostics
      .filter((d) => d.severity === DiagnosticSeverity.Error)
      .map((d) => `${d.path.join(".")}: ${d.message}`);
    assert.deepEqual(errors, []);
    assert.ok(document, "a document");
    assert.equal(document.version(), "3.0.0");
    const names = document
      .messages()
      .all()
      .map((m) => m.name());
    for (const name of ["say", "welcome", "presence", "members", "error"]) assert.ok(names.includes(name), name);
  });

  test("docs/openapi.json validates as OpenAPI 3.1, and /openapi.json serves it", async () => {
    const doc = JSON.parse(readFileSync(join(root, "docs/openapi.json"), "utf8"));
    const result = await validate(structuredClone(doc));
    assert.equal(result.valid, true, result.valid ? "" : compileErrors(result));
    assert.equal(doc.openapi, "3.1.0");
    assert.ok(doc.paths["/api/rooms/{room}/moderation"].post.requestBody, "from the moderation body's validator");
    const app = createApp({
      upgradeWebSocket: (() => () => new Response(null)) as never,
      rooms: {} as never,
      config: loadConfig({}),
      connection: (() => undefined) as never,
      clientAddress: () => "127.0.0.1",
    });
    const res = await app.request("http://localhost/openapi.json", { headers: { host: "localhost" } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), doc);
  });

  test("each query parameter's bounds in docs/openapi.json are the validator's: its edges pass, one past them fails", () => {
    const doc = JSON.parse(readFileSync(join(root, "docs/openapi.json"), "utf8"));
    const validators: Record<string, v.GenericSchema> = {
      "/api/rooms/{room}/messages": PageQuery,
      "/api/rooms/{room}/entries": EntriesQuery,
    };
    let checked = 0;
    for (const [path, schema] of Object.entries(validators)) {
      for (const p of doc.paths[path].get.parameters.filter((x: { in: string }) => x.in === "query")) {
        const { minimum, maximum, type } = p.schema;
        assert.equal(type, "integer", `${path} ${p.name}`);
        const ok = (n: number) => v.safeParse(schema, { [p.name]: String(n) }).success;
        assert.ok(ok(minimum) && ok(maximum), `${path} ${p.name}: ${minimum} and ${maximum} pass`);
        assert.ok(!ok(maximum + 1), `${path} ${p.name}: ${maximum + 1} fails`);
        if (minimum > 0) assert.ok(!ok(minimum - 1), `${path} ${p.name}: ${minimum - 1} fails`);
        checked++;
      }
    }
    assert.equal(checked, 4, "before and limit of a history page, after and limit of the entries");
  });
});
