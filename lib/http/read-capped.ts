// A request body read up to a cap: null as soon as it passes `cap` bytes (the rest is never read),
// so an oversized upload costs at most `cap` bytes of memory.
export async function readBodyCapped(req: Request, cap: number): Promise<Buffer | null> {
  if (!req.body) return Buffer.alloc(0);
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}
