/** The error line (#error, role=alert): the latest problem, in words, until it clears itself or is cleared. */
import { ParleyError } from "../client/index.ts";
import { byId } from "./dom.ts";
import { errorText } from "./format.ts";

const errorLine = byId("error");
let errorTimer: ReturnType<typeof setTimeout> | undefined;

/** Show `text` on the error line for 12 seconds. */
export function showError(text: string): void {
  errorLine.textContent = text;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(clearError, 12_000);
}

/** Empty the error line. */
export function clearError(): void {
  clearTimeout(errorTimer);
  errorLine.textContent = "";
}

/** A failure as a sentence for the error line. */
export function explain(err: unknown): string {
  if (err instanceof ParleyError) return errorText(err.code, err.message, err.retryAfterMs);
  return err instanceof Error ? err.message : String(err);
}
