/**
 * Waiting in tests and in the bench: one definition of each, with one meaning.
 * - `eventually`: poll a condition until it holds.
 * - `retry`: call an async function again until it resolves.
 * - `within`: a promise, or a failure once a deadline passes.
 */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Poll `cond` every 10 ms until it holds. Fails after `ms` with `what`, which can be a function so that
 * the message is built late and shows the state at that moment.
 */
export async function eventually(cond: () => boolean, what: string | (() => string), ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === "function" ? what() : what}`);
    }
    await sleep(10);
  }
}

/**
 * Call `fn` again every 50 ms until it resolves, for at most `ms`; then rethrow its last error. For
 * things a server does when it gets to them, such as counting a close.
 */
export async function retry<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

/** `promise`, or a failure naming `what` after `ms`, so that something that never happens fails instead of hanging. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
