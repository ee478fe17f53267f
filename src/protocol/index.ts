/**
 * The wire protocol (docs/protocol.md) in three modules: constants.ts (codes, limits and rules, no
 * dependencies), frames.ts (the server's frames as types) and schema.ts (the client's frames as valibot
 * schemas, and the parse). Clients import the types and constants from here.
 */
export * from "./constants.ts";
export type * from "./frames.ts";
export * from "./schema.ts";
