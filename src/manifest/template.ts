/**
 * Prompt templates: "a {color} {shape}" with `vars: { color: [...], shape: [...] }` expands to the cartesian
 * product of the variables in the order they are listed, the first varying slowest. `{{` and `}}` write
 * literal braces. Expansion is lazy: a million-combination template costs no memory up front.
 */
import { FieldError } from "./errors.js";

export interface ParsedTemplate {
  /** literals[0] + value(names[0]) + literals[1] + ... + literals[names.length] */
  literals: string[];
  names: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseTemplate(template: string, field: string): ParsedTemplate {
  const literals: string[] = [];
  const names: string[] = [];
  let lit = "";
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if ((c === "{" || c === "}") && template[i + 1] === c) {
      lit += c;
      i++;
    } else if (c === "{") {
      const close = template.indexOf("}", i);
      const name = close < 0 ? "" : template.slice(i + 1, close);
      if (!NAME.test(name)) {
        throw new FieldError(
          field,
          `${field} has "{" at character ${i + 1} without a {name} after it ` +
            "(names are letters, digits and _; write {{ for a literal brace)",
        );
      }
      literals.push(lit);
      names.push(name);
      lit = "";
      i = close;
    } else if (c === "}") {
      throw new FieldError(
        field,
        `${field} has an unmatched "}" at character ${i + 1} (write }} for a literal brace)`,
      );
    } else {
      lit += c;
    }
  }
  literals.push(lit);
  return { literals, names };
}

export interface TemplateVar {
  name: string;
  values: string[];
}

/** Number of prompts the template makes: the product of its variables' value counts. */
export function templateSize(vars: readonly TemplateVar[]): number {
  return vars.reduce((n, v) => n * v.values.length, 1);
}

/** The prompts, first variable slowest. Every name in `parsed` must be one of `vars` (checked by the spec). */
export function* expandTemplate(parsed: ParsedTemplate, vars: readonly TemplateVar[]): Generator<string> {
  const slot = parsed.names.map((n) => vars.findIndex((v) => v.name === n));
  const idx = new Array<number>(vars.length).fill(0);
  if (vars.some((v) => v.values.length === 0)) return;
  for (;;) {
    let prompt = parsed.literals[0];
    for (let j = 0; j < slot.length; j++)
      prompt += vars[slot[j]].values[idx[slot[j]]] + parsed.literals[j + 1];
    yield prompt;
    // Odometer: bump the last variable, carrying into earlier ones.
    let k = vars.length - 1;
    while (k >= 0 && ++idx[k] === vars[k].values.length) idx[k--] = 0;
    if (k < 0) return;
  }
}
