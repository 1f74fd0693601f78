/**
 * Counts an ONNX model's parameters from its initializers' dims, reading the protobuf directly (ONNX Runtime
 * does not expose initializers). Weights kept as ONNX external data still have their dims in model.onnx, so
 * only that file is read. Field numbers from onnx.proto: ModelProto.graph = 7, GraphProto.initializer = 5,
 * TensorProto.dims = 1.
 */
import { readFile } from "node:fs/promises";

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new Error("malformed varint");
  }

  /** Calls `onField` for each field; skips what it does not consume. */
  fields(onField: (field: number, wire: number, r: Reader) => boolean): void {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (onField(field, wire, this)) continue;
      if (wire === 0) this.varint();
      else if (wire === 1) this.pos += 8;
      else if (wire === 5) this.pos += 4;
      else if (wire === 2) {
        const len = this.varint(); // read before adding: `pos += varint()` would add to the old pos
        this.pos += len;
      } else throw new Error(`unsupported wire type ${wire}`);
    }
  }

  /** A length-delimited field's body as a reader; moves past it. */
  sub(): Reader {
    const len = this.varint();
    const r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }
}

function tensorSize(r: Reader): number {
  let size = 1;
  r.fields((field, wire, t) => {
    if (field !== 1) return false;
    if (wire === 0) size *= t.varint();
    else {
      const packed = t.sub();
      while (packed.pos < packed.end) size *= packed.varint();
    }
    return true;
  });
  return size;
}

export function countParameters(model: Uint8Array): number {
  let total = 0;
  new Reader(model, 0, model.length).fields((field, wire, r) => {
    if (field !== 7 || wire !== 2) return false;
    r.sub().fields((f, w, g) => {
      if (f !== 5 || w !== 2) return false;
      total += tensorSize(g.sub());
      return true;
    });
    return true;
  });
  return total;
}

/** The parameter count of an ONNX file, or undefined when it cannot be parsed. */
export async function countFileParameters(path: string): Promise<number | undefined> {
  try {
    return countParameters(await readFile(path));
  } catch {
    return undefined;
  }
}
