// A minimal POSIX ustar writer that streams regular files (the adapter download): one 512-byte
// header per file, its bytes padded to 512, then two zero blocks. No dependency, no temp file.
import fs from "node:fs";

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** The 512-byte ustar header of a regular file `name` (≤ 100 bytes) of `size` bytes. */
export function tarHeader(name: string, size: number, mtimeS: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const nameBytes = Buffer.from(name, "utf8");
  if (nameBytes.length > 100) throw new Error(`tar: name too long: ${name}`);
  nameBytes.copy(h, 0);
  h.write(octal(0o644, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii"); // uid
  h.write(octal(0, 8), 116, "ascii"); // gid
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(Math.floor(mtimeS), 12), 136, "ascii");
  h.write("        ", 148, "ascii"); // checksum counts as spaces while summing
  h.write("0", 156, "ascii"); // regular file
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return h;
}

export interface TarEntry {
  /** Name inside the archive. */
  name: string;
  /** File on disk. */
  path: string;
}

/** A web ReadableStream of the tar archive of `entries`, read from disk as it is consumed. */
export function tarStream(entries: TarEntry[]): ReadableStream<Uint8Array> {
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (const e of entries) {
      const st = fs.statSync(e.path);
      yield tarHeader(e.name, st.size, st.mtimeMs / 1000);
      let sent = 0;
      for await (const chunk of fs.createReadStream(e.path)) {
        const buf = chunk as Buffer;
        // Never more bytes than the header announced, even if the file grew meanwhile.
        const part = buf.subarray(0, Math.max(0, st.size - sent));
        sent += part.length;
        if (part.length) yield part;
      }
      if (sent < st.size) throw new Error(`tar: ${e.path} shrank while being read`);
      const pad = (BLOCK - (st.size % BLOCK)) % BLOCK;
      if (pad) yield Buffer.alloc(pad, 0);
    }
    yield Buffer.alloc(BLOCK * 2, 0);
  }
  const it = chunks();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await it.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        controller.error(err);
      }
    },
    async cancel() {
      await it.return(undefined);
    },
  });
}
