/** An error the server sent for one of this client's calls, or the client's own `offline`/`stopped`. */
export class ParleyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "ParleyError";
  }
}

/** Whether `err` is the server's `rate_limited`: the call was fine, its pace was not. */
export function isRateLimited(err: unknown): err is ParleyError {
  return err instanceof ParleyError && err.code === "rate_limited";
}
