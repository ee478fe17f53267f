// The few Deno APIs the Deno adapter and scripts/start-deno.ts use, so that one tsconfig checks every
// runtime's files (Deno's own lib types clash with Node's).
declare namespace Deno {
  const env: { get(name: string): string | undefined };
  function execPath(): string;
}
