// Waiting for something real to happen (a guest's line, a process's end),
// with a deadline and a message that says what never came.
export async function until<T>(what: string, fn: () => T | Promise<T>, ms: number, stepMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
