/**
 * The spec's YAML (or JSON) tree with line numbers: every check on the spec reports `file:line`, so it
 * walks the yaml package's nodes rather than plain values.
 */
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";
import { FieldError, specError } from "./errors.js";
import { unknownKeyMessage } from "./suggest.js";

export interface Entry {
  key: string;
  value: Node | null;
  /** Line of the value (of the key when the value is empty). */
  line: number;
}

export class SpecTree {
  private constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Parses YAML or JSON (JSON is read as YAML, which it is, so both get line numbers). */
  static parse(file: string, text: string): SpecTree {
    const lines = new LineCounter();
    // Integers as bigint, so that a seed past 2^53 is caught instead of silently rounded.
    const doc = parseDocument(text, { lineCounter: lines, intAsBigInt: true });
    const err = doc.errors[0];
    if (err) {
      const why = err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
      throw specError(file, err.linePos?.[0].line ?? 1, `cannot parse the spec: ${why}`);
    }
    return new SpecTree(file, doc, lines);
  }

  get root(): Node | null {
    return this.resolve(this.doc.contents);
  }

  line(node: Node | null | undefined, fallback = 1): number {
    const start = node?.range?.[0];
    return start === undefined ? fallback : this.lines.linePos(start).line;
  }

  /** Throws SPEC_INVALID at `line`. */
  fail(line: number, message: string): never {
    throw specError(this.file, line, message);
  }

  /** Runs a field check, turning its FieldError into a spec error at `line`. */
  check<T>(line: number, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof FieldError) this.fail(line, err.message);
      throw err;
    }
  }

  resolve(node: unknown): Node | null {
    if (isAlias(node)) return this.resolve(node.resolve(this.doc));
    return (node as Node | null | undefined) ?? null;
  }

  /** A mapping's entries, refusing keys not in `known` (suggesting the nearest known one). */
  entries(map: YAMLMap, known: readonly string[], where: string): Entry[] {
    const out: Entry[] = [];
    for (const pair of map.items) {
      const keyNode = this.resolve(pair.key);
      const keyLine = this.line(keyNode, this.line(map));
      const key = isScalar(keyNode) ? String(keyNode.value) : "";
      if (!known.includes(key)) this.fail(keyLine, unknownKeyMessage(key, where, known));
      const value = this.resolve(pair.value);
      const empty = value === null || (isScalar(value) && value.value === null);
      out.push({ key, value, line: empty ? keyLine : this.line(value, keyLine) });
    }
    return out;
  }

  isMap(node: Node | null): node is YAMLMap {
    return isMap(node);
  }

  isSeq(node: Node | null): node is YAMLSeq {
    return isSeq(node);
  }

  /** Items of a sequence, aliases resolved. */
  items(seq: YAMLSeq): (Node | null)[] {
    return seq.items.map((n) => this.resolve(n));
  }

  /** The node as plain data (bigints in the safe range become numbers), for values and messages. */
  plain(node: Node | null): unknown {
    if (node === null) return null;
    if (isScalar(node)) {
      const v = node.value;
      return typeof v === "bigint" &&
        v >= BigInt(Number.MIN_SAFE_INTEGER) &&
        v <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v)
        : v;
    }
    if (isSeq(node)) return this.items(node).map((n) => this.plain(n));
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const k = this.resolve(pair.key);
        out[String(isScalar(k) ? k.value : "")] = this.plain(this.resolve(pair.value));
      }
      return out;
    }
    return null;
  }
}
