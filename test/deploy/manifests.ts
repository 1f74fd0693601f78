/**
 * Helpers for the deployment tests: render a kustomization with `kubectl kustomize`, validate objects
 * against the Kubernetes and CRD schemas of kubernetes-models, and resolve what Kubernetes would pass to a
 * container (the $(VAR) references in its arguments).
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Command } from "commander";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Pod } from "kubernetes-models/v1/Pod";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { Service } from "kubernetes-models/v1/Service";
import { parseAllDocuments } from "yaml";
import { ROOT } from "../helpers/paths.js";

export const K8S_DIR = join(ROOT, "deploy", "k8s");
export const OVERLAYS_DIR = join(K8S_DIR, "overlays");
const KUBECTL = process.env.KUBECTL ?? "kubectl";

/** A rendered object; fields are read through the typed views below. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Every overlay folder, so that a new one is tested without being listed here. */
export function overlayNames(): string[] {
  return readdirSync(OVERLAYS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/** `kubectl kustomize DIR`, parsed. */
export function render(dir: string): K8sObject[] {
  const out = execFileSync(KUBECTL, ["kustomize", dir], { encoding: "utf8", maxBuffer: 64 << 20 });
  return parseYamlObjects(out, dir);
}

export function parseYamlObjects(text: string, source: string): K8sObject[] {
  const docs = parseAllDocuments(text);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0].message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

interface Validating {
  validate(): void;
}
type Model = new (data: never) => Validating;

/** The schema of each kind the manifests use: Kubernetes 1.27 core and apps, the KEDA and Prometheus Operator CRDs. */
const MODELS: Record<string, Model> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Namespace": Namespace,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "v1/Pod": Pod,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};

/** Throws with the object's name and the schema's complaint; an unknown kind is an error too. */
export function validateObject(obj: K8sObject): void {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const model = MODELS[key];
  if (!model) throw new Error(`no schema for ${key} (${obj.metadata?.name}): add its model to the tests`);
  try {
    new model(obj as never).validate();
  } catch (err) {
    throw new Error(`${key} ${obj.metadata.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found)
    throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`)}`);
  return found;
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** The pod spec of a Deployment, StatefulSet or Pod. */
export function podSpec(obj: K8sObject): IPodSpec {
  if (obj.kind === "Pod") return obj.spec as IPodSpec;
  return (obj.spec as { template: { spec: IPodSpec } }).template.spec;
}

export function podLabels(obj: K8sObject): Record<string, string> {
  if (obj.kind === "Pod") return obj.metadata.labels ?? {};
  return (
    (obj.spec as { template: { metadata?: { labels?: Record<string, string> } } }).template.metadata
      ?.labels ?? {}
  );
}

export function container(obj: K8sObject, name: string): IContainer {
  const found = podSpec(obj).containers.find((c) => c.name === name);
  if (!found) throw new Error(`${obj.kind} ${obj.metadata.name} has no container ${name}`);
  return found;
}

export function matches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** Kubernetes CPU quantity in cores ("250m", "2", "1.5"). */
export function cpuCores(quantity: string | number): number {
  const text = String(quantity);
  return text.endsWith("m") ? Number(text.slice(0, -1)) / 1000 : Number(text);
}

/**
 * The container's environment as the kubelet builds it, for what the manifests use: literal values,
 * ConfigMap keys, the pod's name and resource fields (rounded up to the divisor, as the kubelet does).
 */
export function containerEnv(objects: K8sObject[], owner: K8sObject, c: IContainer): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of c.env ?? []) {
    const from = e.valueFrom;
    if (e.value !== undefined) env.set(e.name, expandVars(e.value, env).text);
    else if (from?.configMapKeyRef) {
      const cm = find(objects, "ConfigMap", from.configMapKeyRef.name ?? "");
      const value = (cm.data as Record<string, string> | undefined)?.[from.configMapKeyRef.key];
      if (value === undefined) {
        throw new Error(`${e.name}: ConfigMap ${cm.metadata.name} has no key ${from.configMapKeyRef.key}`);
      }
      env.set(e.name, value);
    } else if (from?.fieldRef?.fieldPath === "metadata.name") {
      env.set(e.name, `${owner.metadata.name}-0`);
    } else if (from?.resourceFieldRef) {
      const ref = from.resourceFieldRef;
      const [kind, resource] = ref.resource.split(".") as ["requests" | "limits", string];
      const target = podSpec(owner).containers.find((x) => x.name === (ref.containerName ?? c.name));
      const quantity = target?.resources?.[kind]?.[resource];
      if (quantity === undefined) throw new Error(`${e.name}: ${ref.resource} is not set`);
      const divisor = cpuCores(ref.divisor ?? "1");
      env.set(e.name, String(Math.ceil(cpuCores(quantity) / divisor)));
    } else {
      throw new Error(`${e.name}: a kind of value these tests do not resolve`);
    }
  }
  return env;
}

/** Expands $(VAR) as Kubernetes does ($$ escapes); returns the names it could not resolve. */
export function expandVars(text: string, env: Map<string, string>): { text: string; missing: string[] } {
  const missing: string[] = [];
  const expanded = text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string | undefined) => {
    if (name === undefined) return "$";
    const value = env.get(name);
    if (value === undefined) {
      missing.push(name);
      return all;
    }
    return value;
  });
  return { text: expanded, missing };
}

/** The container's arguments with every $(VAR) resolved; throws on a reference the kubelet would leave as is. */
export function resolvedArgs(objects: K8sObject[], owner: K8sObject, c: IContainer): string[] {
  const env = containerEnv(objects, owner, c);
  return (c.args ?? []).map((arg) => {
    const { text, missing } = expandVars(arg, env);
    if (missing.length > 0) throw new Error(`${c.name}: ${arg} names undefined ${missing.join(", ")}`);
    return text;
  });
}

/** "HOST:PORT" -> PORT. */
export function portOf(address: string): number {
  const port = Number(address.slice(address.lastIndexOf(":") + 1));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${address}`);
  return port;
}

/**
 * Parses a container's arguments with the `latent-fleet` command's own definitions (commander), without
 * running anything: returns the subcommand's name and its parsed options, or throws what the command
 * would print (unknown option, bad value, missing required option).
 */
export async function parseCli(
  args: string[],
  register: (program: Command) => void,
): Promise<{ command: string; options: Record<string, unknown> }> {
  const program = new Command("latent-fleet")
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  register(program);
  let parsed: { command: string; options: Record<string, unknown> } | undefined;
  for (const sub of program.commands) {
    sub.action((...params: unknown[]) => {
      const cmd = params[params.length - 1] as Command;
      parsed = { command: cmd.name(), options: cmd.opts() };
    });
  }
  await program.parseAsync(args, { from: "user" });
  if (!parsed) throw new Error(`no subcommand ran for ${args.join(" ")}`);
  return parsed;
}
