import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkName, checkText, type Parsed, parseClientFrame } from "../../src/protocol/index.ts";

const parse = (value: unknown) => parseClientFrame(JSON.stringify(value));

function rejected(result: Parsed, code = "bad_frame") {
  assert.equal(result.ok, false, `expected a rejection, got ${JSON.stringify(result)}`);
  if (result.ok) throw new Error("unreachable");
  assert.equal(result.code, code);
  assert.equal(typeof result.message, "string");
  assert.ok(result.message.length > 0 && result.message.length <= 200);
  return result;
}

const deepArray = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

describe("parseClientFrame: accepted frames", () => {
  test("say, with and without ref", () => {
    assert.deepEqual(parse({ type: "say", text: "hi" }), { ok: true, frame: { type: "say", text: "hi" } });
    assert.deepEqual(parse({ type: "say", text: "hi", ref: "r1" }), {
      ok: true,
      frame: { type: "say", text: "hi", ref: "r1" },
    });
  });

  test("say text is kept exactly as sent (no trimming, no escaping)", () => {
    const text = "  <b>x</b> & \u{1F600}\n";
    assert.deepEqual(parse({ type: "say", text }), { ok: true, frame: { type: "say", text } });
  });

  test("ref of exactly 64 characters is accepted", () => {
    const ref = "r".repeat(64);
    assert.deepEqual(parse({ type: "ping", ref }), { ok: true, frame: { type: "ping", ref } });
  });

  test("rename", () => {
    assert.deepEqual(parse({ type: "rename", name: "ann" }), { ok: true, frame: { type: "rename", name: "ann" } });
  });

  test("typing", () => {
    assert.deepEqual(parse({ type: "typing" }), { ok: true, frame: { type: "typing" } });
  });

  test("history with before only, and with limit and ref", () => {
    assert.deepEqual(parse({ type: "history", before: 10 }), { ok: true, frame: { type: "history", before: 10 } });
    assert.deepEqual(parse({ type: "history", before: 0, limit: 1, ref: "h" }), {
      ok: true,
      frame: { type: "history", before: 0, limit: 1, ref: "h" },
    });
    assert.deepEqual(parse({ type: "history", before: 5, limit: 100 }), {
      ok: true,
      frame: { type: "history", before: 5, limit: 100 },
    });
  });

  test("ping, with and without ref", () => {
    assert.deepEqual(parse({ type: "ping" }), { ok: true, frame: { type: "ping" } });
    assert.deepEqual(parse({ type: "ping", ref: "p" }), { ok: true, frame: { type: "ping", ref: "p" } });
  });

  test("unknown extra fields are dropped", () => {
    assert.deepEqual(parse({ type: "say", text: "x", extra: 1, nested: { a: [1] } }), {
      ok: true,
      frame: { type: "say", text: "x" },
    });
    // A ref on a frame type that has none is an unknown field too.
    assert.deepEqual(parse({ type: "typing", ref: "r" }), { ok: true, frame: { type: "typing" } });
    // rename carries an optional ref (a Parley extension), so that its errors can echo it.
    assert.deepEqual(parse({ type: "rename", name: "n", ref: "r" }), {
      ok: true,
      frame: { type: "rename", name: "n", ref: "r" },
    });
  });

  test("a __proto__ key neither pollutes Object.prototype nor reaches the output", () => {
    const result = parseClientFrame('{"type":"say","text":"x","__proto__":{"polluted":1}}');
    assert.deepEqual(result, { ok: true, frame: { type: "say", text: "x" } });
    assert.ok(result.ok);
    assert.equal(Object.hasOwn(result.frame, "__proto__"), false);
    assert.equal(Object.getPrototypeOf(result.frame), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test("a 5000-deep array as an unknown field is dropped without throwing", () => {
    const result = parseClientFrame(`{"type":"say","text":"x","deep":${deepArray(5000)}}`);
    assert.deepEqual(result, { ok: true, frame: { type: "say", text: "x" } });
  });
});

describe("parseClientFrame: rejections", () => {
  test("not JSON is bad_json", () => {
    for (const text of ["", "{", "say", "{'type':'say'}", '{"type":"say",}', "\u0000"]) {
      const result = rejected(parseClientFrame(text), "bad_json");
      assert.equal(result.ref, undefined);
    }
  });

  test("a top value that is not an object is bad_frame", () => {
    for (const text of ["[]", '[{"type":"ping"}]', "null", "5", "true", '"x"']) {
      rejected(parseClientFrame(text));
    }
  });

  test("a 5000-deep array as the top value is bad_frame, not a throw", () => {
    rejected(parseClientFrame(deepArray(5000)));
  });

  test("a 5000-deep array where a string belongs is bad_frame", () => {
    const result = rejected(parseClientFrame(`{"type":"say","text":${deepArray(5000)},"ref":"r"}`));
    assert.equal(result.ref, "r");
  });

  test("missing or non-string type", () => {
    for (const frame of [{}, { text: "x" }, { type: 5 }, { type: null }, { type: ["say"] }, { type: { say: 1 } }]) {
      const result = rejected(parse(frame));
      assert.match(result.message, /type/);
    }
  });

  test("unknown type, including Object.prototype names", () => {
    for (const type of ["nope", "SAY", "", "constructor", "__proto__", "toString", "welcome"]) {
      const result = rejected(parse({ type, text: "x" }));
      assert.match(result.message, /unknown frame type/);
    }
  });

  test("say: missing or non-string text", () => {
    for (const text of [undefined, 5, null, ["x"], { x: 1 }, true]) {
      const result = rejected(parse({ type: "say", text }));
      assert.match(result.message, /text/);
    }
  });

  test("say: non-string ref", () => {
    for (const ref of [5, null, ["r"], { r: 1 }]) rejected(parse({ type: "say", text: "x", ref }));
  });

  test("ref over 64 characters", () => {
    const ref = "r".repeat(65);
    for (const frame of [
      { type: "say", text: "x", ref },
      { type: "ping", ref },
      { type: "history", before: 1, ref },
    ]) {
      const result = rejected(parse(frame));
      assert.equal(result.ref, undefined, "an invalid ref is never echoed");
    }
  });

  test("rename: missing or non-string name", () => {
    for (const name of [undefined, 1, null, ["n"]]) rejected(parse({ type: "rename", name }));
  });

  test("history: before is required, an integer, and not negative", () => {
    for (const before of [undefined, -1, 1.5, "5", null, Number.MAX_SAFE_INTEGER + 2]) {
      rejected(parse({ type: "history", before }));
    }
  });

  test("history: limit is an integer from 1 to 100", () => {
    for (const limit of [0, 101, -5, 2.5, "10", null]) rejected(parse({ type: "history", before: 10, limit }));
  });

  test("ref is echoed when it is a valid string of at most 64 characters", () => {
    assert.equal(rejected(parse({ type: "say", text: 5, ref: "abc" })).ref, "abc");
    assert.equal(rejected(parse({ type: "history", before: -1, ref: "h1" })).ref, "h1");
    assert.equal(rejected(parse({ type: "nope", ref: "n1" })).ref, "n1");
    assert.equal(rejected(parse({ type: "history", before: 1, limit: 0, ref: "r".repeat(64) })).ref, "r".repeat(64));
  });

  test("ref is not echoed when it is not a string, too long, or inherited", () => {
    assert.equal(rejected(parse({ type: "nope", ref: 7 })).ref, undefined);
    assert.equal(rejected(parse({ type: "nope", ref: "r".repeat(65) })).ref, undefined);
    assert.equal(rejected(parse({ type: "nope" })).ref, undefined);
    assert.equal(rejected(parseClientFrame('[{"ref":"r"}]')).ref, undefined);
    assert.equal(rejected(parseClientFrame('{"type":"nope","__proto__":{"ref":"r"}}')).ref, undefined);
  });

  test("a top-level JSON string gets a reason that does not call it a frame type", () => {
    const result = rejected(parseClientFrame('"say"'));
    assert.doesNotMatch(result.message, /unknown frame type/);
  });
});

describe("checkName", () => {
  test("trims and accepts 1 to 32 characters", () => {
    assert.deepEqual(checkName("  ann  "), { ok: true, name: "ann" });
    assert.deepEqual(checkName("a"), { ok: true, name: "a" });
    assert.deepEqual(checkName("n".repeat(32)), { ok: true, name: "n".repeat(32) });
    assert.deepEqual(checkName(` ${"n".repeat(32)}\t`), { ok: true, name: "n".repeat(32) });
  });

  test("rejects empty, blank and over-long names", () => {
    for (const raw of ["", "   ", "\t\n", "n".repeat(33), ` ${"n".repeat(33)} `]) {
      const result = checkName(raw);
      assert.equal(result.ok, false, JSON.stringify(raw));
    }
  });

  test("rejects control characters (C0, DEL, C1) inside the name", () => {
    for (const c of ["\u0000", "\u0001", "\u001b", "\u007f", "\u0085", "\u009f", "\n"]) {
      const result = checkName(`a${c}b`);
      assert.equal(result.ok, false, `U+${c.charCodeAt(0).toString(16)}`);
      if (!result.ok) assert.match(result.message, /control/);
    }
    // Trimming does not remove NUL, so a leading NUL is still caught.
    assert.equal(checkName("\u0000ann").ok, false);
  });

  test("accepts unicode names, counted in UTF-16 code units", () => {
    for (const raw of ["Zoë", "名前", "\u{1F600} smile", "Ærøskøbing", "a\u00a0b"]) {
      assert.deepEqual(checkName(raw), { ok: true, name: raw });
    }
    // 16 astral characters are 32 code units; 17 are 34.
    assert.equal(checkName("\u{1F600}".repeat(16)).ok, true);
    assert.equal(checkName("\u{1F600}".repeat(17)).ok, false);
  });
});

describe("checkText", () => {
  test("accepts up to the limit", () => {
    assert.deepEqual(checkText("x".repeat(2000), 2000), { ok: true });
    assert.deepEqual(checkText("x", 2000), { ok: true });
    assert.deepEqual(checkText(" x ", 2000), { ok: true });
  });

  test("one over the limit is too_long", () => {
    const result = checkText("x".repeat(2001), 2000);
    assert.equal(result.ok, false);
    if (!result.ok) assert.equal(result.code, "too_long");
  });

  test("honours a custom limit", () => {
    assert.deepEqual(checkText("x".repeat(10), 10), { ok: true });
    const result = checkText("x".repeat(11), 10);
    assert.equal(result.ok, false);
    if (!result.ok) assert.equal(result.code, "too_long");
  });

  test("blank text is bad_frame", () => {
    for (const text of ["", " ", "\n\t ", "\u00a0\u2003"]) {
      const result = checkText(text, 2000);
      assert.equal(result.ok, false, JSON.stringify(text));
      if (!result.ok) assert.equal(result.code, "bad_frame");
    }
  });
});
