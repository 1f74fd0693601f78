/**
 * The Kubernetes manifests: every overlay renders with `kubectl kustomize`, every object is valid against the
 * Kubernetes and CRD schemas, every reference resolves, and what the manifests tell the processes (arguments,
 * ports, probes, metric paths, NATS names) agrees with what the code accepts and serves.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IProbe } from "kubernetes-models/v1/Probe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { registerCoordinator } from "../../src/cli/commands/coordinator.js";
import { registerWorker } from "../../src/cli/commands/worker.js";
import { DEFAULT_COORDINATOR_ADDRESS } from "../../src/cli/coordinator-client.js";
import { createMetricsRegistry, type MetricsServer, startMetricsServer } from "../../src/common/metrics.js";
import { TASKS_STREAM, workersConsumerName } from "../../src/common/nats/names.js";
import { COORDINATOR_SERVICE_NAME } from "../../src/coordinator/grpc-service.js";
import { parseDevice } from "../../src/engine/device.js";
import { WORKER_LIVENESS_SERVICE, WORKER_SERVICE_NAME } from "../../src/worker/grpc-service.js";
import { ROOT } from "../helpers/paths.js";
import {
  container,
  containerEnv,
  find,
  K8S_DIR,
  type K8sObject,
  matches,
  OVERLAYS_DIR,
  ofKind,
  overlayNames,
  parseCli,
  parseYamlObjects,
  podLabels,
  podSpec,
  portOf,
  render,
  resolvedArgs,
  validateObject,
} from "./manifests.js";

const NAMESPACE = "latent-fleet";
/** Where deploy/k8s/nats/values.yaml and docs/deploy.md install the NATS Helm chart. */
const NATS_RELEASE = "nats";
const NATS_NAMESPACE = "nats";
const DASHBOARD_FILE = join(ROOT, "deploy", "grafana", "latent-fleet.json");

const rendered = new Map<string, K8sObject[]>(
  overlayNames().map((name) => [name, render(join(OVERLAYS_DIR, name))]),
);

function workloads(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => ["Deployment", "StatefulSet", "Pod"].includes(o.kind));
}

function coordinatorOf(objects: K8sObject[]) {
  const owner = find(objects, "Deployment", "latent-fleet-coordinator");
  return { owner, c: container(owner, "coordinator") };
}

function workerOf(objects: K8sObject[]) {
  const owner = find(objects, "Deployment", "latent-fleet-worker");
  return { owner, c: container(owner, "worker") };
}

function namedPort(c: IContainer, name: string): number {
  const port = c.ports?.find((p) => p.name === name)?.containerPort;
  if (port === undefined) throw new Error(`container ${c.name} has no port named ${name}`);
  return port;
}

function probes(c: IContainer): [string, IProbe][] {
  return (["startupProbe", "readinessProbe", "livenessProbe"] as const).map((k) => {
    const probe = c[k];
    if (!probe) throw new Error(`container ${c.name} has no ${k}`);
    return [k, probe];
  });
}

function configValue(objects: K8sObject[], key: string): string {
  const maps = ofKind(objects, "ConfigMap").filter((m) => m.metadata.name.startsWith("latent-fleet-"));
  const values = maps.flatMap((m) => {
    const v = (m.data as Record<string, string> | undefined)?.[key];
    return v === undefined ? [] : [v];
  });
  if (values.length !== 1) throw new Error(`expected one ConfigMap value for ${key}, found ${values.length}`);
  return values[0];
}

it("has the cpu and gpu overlays", () => {
  expect([...rendered.keys()]).toEqual(expect.arrayContaining(["cpu", "gpu"]));
});

describe.each([...rendered.keys()])("overlay %s", (overlay) => {
  const objects = rendered.get(overlay)!;

  it("renders only objects that are valid against their schemas", () => {
    expect(objects.length).toBeGreaterThan(5);
    for (const obj of objects) validateObject(obj);
  });

  it("puts everything in the latent-fleet namespace, with unique names", () => {
    const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const obj of objects) {
      if (obj.kind === "Namespace") expect(obj.metadata.name).toBe(NAMESPACE);
      else expect(obj.metadata.namespace, `${obj.kind}/${obj.metadata.name}`).toBe(NAMESPACE);
    }
  });

  it("resolves every ConfigMap, volume, claim and port a workload names", () => {
    for (const w of workloads(objects)) {
      const spec = podSpec(w);
      const claimTemplates = (
        (w.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []
      ).map((t) => t.metadata.name);
      const volumes = new Set([...(spec.volumes ?? []).map((v) => v.name), ...claimTemplates]);
      for (const v of spec.volumes ?? []) {
        if (v.persistentVolumeClaim)
          find(objects, "PersistentVolumeClaim", v.persistentVolumeClaim.claimName);
        if (v.configMap) find(objects, "ConfigMap", v.configMap.name ?? "");
      }
      for (const c of spec.containers) {
        for (const m of c.volumeMounts ?? [])
          expect(volumes, `${w.metadata.name}: ${m.name}`).toContain(m.name);
        // Resolving the environment checks every configMapKeyRef; resolving the arguments, every $(VAR).
        resolvedArgs(objects, w, c);
        for (const [, probe] of c.readinessProbe ? probes(c) : []) {
          const port = probe.grpc?.port ?? probe.httpGet?.port;
          if (typeof port === "string") namedPort(c, port);
        }
      }
    }
  });

  it("selects pods and ports that exist from every Service, monitor and ScaledObject", () => {
    const pods = workloads(objects);
    for (const svc of ofKind(objects, "Service")) {
      const spec = svc.spec as { selector: Record<string, string>; ports: { targetPort: string | number }[] };
      const targets = pods.filter((w) => matches(spec.selector, podLabels(w)));
      expect(targets, `Service ${svc.metadata.name}`).not.toHaveLength(0);
      for (const p of spec.ports) {
        for (const t of targets) {
          const ports = podSpec(t).containers.flatMap((c) => c.ports ?? []);
          const hit = ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort);
          expect(hit, `Service ${svc.metadata.name} -> ${p.targetPort}`).toBe(true);
        }
      }
    }
    for (const pm of ofKind(objects, "PodMonitor")) {
      const spec = pm.spec as {
        selector: { matchLabels: Record<string, string> };
        podMetricsEndpoints: { port: string }[];
      };
      const targets = pods.filter((w) => matches(spec.selector.matchLabels, podLabels(w)));
      expect(targets, `PodMonitor ${pm.metadata.name}`).not.toHaveLength(0);
      for (const t of targets) {
        for (const e of spec.podMetricsEndpoints) {
          expect(podSpec(t).containers.some((c) => c.ports?.some((p) => p.name === e.port))).toBe(true);
        }
      }
    }
    for (const sm of ofKind(objects, "ServiceMonitor")) {
      const spec = sm.spec as {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string }[];
      };
      const targets = ofKind(objects, "Service").filter((s) =>
        matches(spec.selector.matchLabels, s.metadata.labels ?? {}),
      );
      expect(targets, `ServiceMonitor ${sm.metadata.name}`).not.toHaveLength(0);
      for (const t of targets) {
        for (const e of spec.endpoints) {
          expect((t.spec as { ports: { name: string }[] }).ports.map((p) => p.name)).toContain(e.port);
        }
      }
    }
    for (const so of ofKind(objects, "ScaledObject")) {
      const target = (so.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name;
      find(objects, "Deployment", target);
    }
  });

  it("runs the coordinator with arguments the CLI accepts, serving gRPC where the probes and Service look", async () => {
    const { owner, c } = coordinatorOf(objects);
    const args = resolvedArgs(objects, owner, c);
    const { command, options } = await parseCli(args, registerCoordinator);
    expect(command).toBe("coordinator");
    const grpcPort = portOf(String(options.grpc));
    expect(String(options.grpc)).toMatch(/^0\.0\.0\.0:/);
    expect(namedPort(c, "grpc")).toBe(grpcPort);
    for (const [name, probe] of probes(c)) {
      expect(probe.grpc?.port, name).toBe(grpcPort);
      // The health service knows the server ("") and the services it serves.
      expect(["", COORDINATOR_SERVICE_NAME]).toContain(probe.grpc?.service ?? "");
    }
    expect(portOf(String(options.metrics))).toBe(namedPort(c, "metrics"));
    // The live page is served where the container and the Service name it, read-only (no token).
    expect(portOf(String(options.ui))).toBe(namedPort(c, "ui"));
    expect(options.uiToken).toBeUndefined();
    // A port-forward of the Service to the same local port lets the client commands run without --coordinator.
    const svc = find(objects, "Service", "latent-fleet-coordinator");
    const ports = (svc.spec as { ports: { name: string; port: number }[] }).ports;
    expect(ports.find((p) => p.name === "grpc")?.port).toBe(portOf(DEFAULT_COORDINATOR_ADDRESS));
    expect(ports.find((p) => p.name === "ui")?.port).toBe(namedPort(c, "ui"));
    expect(Number(options.replicas)).toBe(Number(configValue(objects, "NATS_REPLICAS")));
    expect((owner.spec as { replicas: number }).replicas).toBe(1);
  });

  it("runs the workers with arguments the CLI accepts, serving gRPC health where the probes look", async () => {
    const { owner, c } = workerOf(objects);
    const args = resolvedArgs(objects, owner, c);
    const { command, options } = await parseCli(args, registerWorker);
    expect(command).toBe("worker");
    const grpcPort = portOf(String(options.grpc));
    expect(namedPort(c, "grpc")).toBe(grpcPort);
    for (const [name, probe] of probes(c)) {
      expect(probe.grpc?.port, name).toBe(grpcPort);
      expect(["", WORKER_SERVICE_NAME, WORKER_LIVENESS_SERVICE]).toContain(probe.grpc?.service ?? "");
    }
    expect(portOf(String(options.metrics))).toBe(namedPort(c, "metrics"));
    expect(options.nats).toBe(configValue(objects, "NATS_URL"));
    expect(options.model).toBe(configValue(objects, "MODEL_DIR"));
    parseDevice(String(options.device));
    // Loading a large model (or building TensorRT engines) must not count as a failed start.
    const startup = c.startupProbe!;
    expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3)).toBeGreaterThanOrEqual(300);
  });

  it("gives workers room to drain, a memory-backed /dev/shm and the coordinator's output path", () => {
    const worker = workerOf(objects);
    const coordinator = coordinatorOf(objects);
    expect(podSpec(worker.owner).terminationGracePeriodSeconds).toBeGreaterThanOrEqual(120);
    const shm = worker.c.volumeMounts?.find((m) => m.mountPath === "/dev/shm");
    const shmVolume = podSpec(worker.owner).volumes?.find((v) => v.name === shm?.name);
    expect(shmVolume?.emptyDir?.medium).toBe("Memory");
    expect(shmVolume?.emptyDir?.sizeLimit).toBeDefined();

    // Tasks carry absolute output folders: both sides mount the outputs claim at the same path, and the
    // coordinator resolves relative ones inside it.
    const claimMount = (w: { owner: K8sObject; c: IContainer }) => {
      const volume = podSpec(w.owner).volumes?.find(
        (v) => v.persistentVolumeClaim?.claimName === "latent-fleet-outputs",
      );
      return w.c.volumeMounts?.find((m) => m.name === volume?.name)?.mountPath;
    };
    const path = claimMount(coordinator);
    expect(path).toBeDefined();
    expect(claimMount(worker)).toBe(path);
    expect(coordinator.c.workingDir).toBe(path);
  });

  it("keeps the coordinator's state for s3:// jobs on the outputs volume; AWS settings from an optional Secret", () => {
    const coordinator = coordinatorOf(objects);
    const stateDir = containerEnv(objects, coordinator.owner, coordinator.c).get("LATENT_FLEET_STATE_DIR");
    const volume = podSpec(coordinator.owner).volumes?.find(
      (v) => v.persistentVolumeClaim?.claimName === "latent-fleet-outputs",
    );
    const mount = coordinator.c.volumeMounts?.find((m) => m.name === volume?.name)?.mountPath;
    expect(stateDir?.startsWith(`${mount}/`)).toBe(true);
    for (const w of [coordinator, workerOf(objects)]) {
      const ref = w.c.envFrom?.find((e) => e.secretRef?.name === "latent-fleet-s3")?.secretRef;
      // Optional: a cluster writing only to its volume needs no such Secret for the pods to start.
      expect(ref?.optional).toBe(true);
    }
  });

  it("runs every container as a non-root user with a read-only root file system", () => {
    for (const w of workloads(objects)) {
      const spec = podSpec(w);
      expect(spec.securityContext?.runAsNonRoot, w.metadata.name).toBe(true);
      expect(spec.securityContext?.runAsUser).toBeGreaterThan(0);
      for (const c of spec.containers) {
        expect(c.securityContext?.allowPrivilegeEscalation, c.name).toBe(false);
        expect(c.securityContext?.readOnlyRootFilesystem, c.name).toBe(true);
      }
    }
  });

  it("scales workers on their model's consumer of the tasks stream", () => {
    const model = basename(configValue(objects, "MODEL_DIR"));
    for (const so of ofKind(objects, "ScaledObject")) {
      const spec = so.spec as {
        minReplicaCount: number;
        maxReplicaCount: number;
        triggers: { type: string; metadata: Record<string, string> }[];
      };
      expect(spec.maxReplicaCount).toBeGreaterThanOrEqual(Math.max(1, spec.minReplicaCount));
      const [trigger] = spec.triggers;
      expect(trigger.type).toBe("nats-jetstream");
      expect(trigger.metadata.stream).toBe(TASKS_STREAM);
      expect(trigger.metadata.consumer).toBe(workersConsumerName(model));
      expect(trigger.metadata.account).toBe("$G");
      expect(trigger.metadata.lagThreshold).toMatch(/^[1-9]\d*$/);
      expect(trigger.metadata.natsServerMonitoringEndpoint).toMatch(/^[a-z0-9.-]+:\d+$/);
    }
  });
});

describe("NATS", () => {
  const values = parseYaml(readFileSync(join(K8S_DIR, "nats", "values.yaml"), "utf8")) as {
    config: {
      cluster: { enabled: boolean; replicas: number };
      jetstream: { enabled: boolean; fileStore: { enabled: boolean; pvc: { enabled: boolean } } };
      monitor: { enabled: boolean; port: number };
      nats?: { port?: number };
    };
  };

  it("the Helm values give a JetStream cluster as large as the stream replicas the gpu overlay asks for", () => {
    const gpu = rendered.get("gpu")!;
    expect(values.config.jetstream.enabled).toBe(true);
    expect(values.config.jetstream.fileStore.enabled).toBe(true);
    expect(values.config.jetstream.fileStore.pvc.enabled).toBe(true);
    expect(values.config.cluster.enabled).toBe(true);
    expect(values.config.cluster.replicas).toBeGreaterThanOrEqual(3);
    expect(Number(configValue(gpu, "NATS_REPLICAS"))).toBe(values.config.cluster.replicas);
  });

  it("the gpu overlay connects to the Helm release and reads its monitoring port through the headless Service", () => {
    const gpu = rendered.get("gpu")!;
    const svcDomain = `${NATS_NAMESPACE}.svc.cluster.local`;
    expect(configValue(gpu, "NATS_URL")).toBe(
      `nats://${NATS_RELEASE}.${svcDomain}:${values.config.nats?.port ?? 4222}`,
    );
    expect(values.config.monitor.enabled).toBe(true);
    const [so] = ofKind(gpu, "ScaledObject");
    expect(
      (so.spec as { triggers: { metadata: Record<string, string> }[] }).triggers[0].metadata,
    ).toMatchObject({
      natsServerMonitoringEndpoint: `${NATS_RELEASE}-headless.${svcDomain}:${values.config.monitor.port}`,
    });
    const docs = readFileSync(join(ROOT, "docs", "deploy.md"), "utf8");
    expect(docs).toContain(
      `helm upgrade --install ${NATS_RELEASE} nats/nats --namespace ${NATS_NAMESPACE} --create-namespace`,
    );
  });

  it("the cpu overlay's single server has JetStream, a volume and the ports its clients use", () => {
    const cpu = rendered.get("cpu")!;
    const sts = find(cpu, "StatefulSet", "nats");
    expect((sts.spec as { replicas: number }).replicas).toBe(Number(configValue(cpu, "NATS_REPLICAS")));
    const url = new URL(configValue(cpu, "NATS_URL"));
    const svc = find(cpu, "Service", url.hostname);
    const ports = (svc.spec as { ports: { name: string; port: number }[] }).ports;
    expect(ports.find((p) => p.port === Number(url.port))?.name).toBe("nats");
    const conf = Object.values(
      find(cpu, "ConfigMap", podSpec(sts).volumes![0].configMap!.name!).data as object,
    );
    expect(conf.join("\n")).toMatch(/jetstream\s*\{[^}]*store_dir:\s*\/data/);
    expect(container(sts, "nats").volumeMounts?.find((m) => m.name === "data")?.mountPath).toBe("/data");
  });
});

describe("gpu overlay", () => {
  const objects = rendered.get("gpu")!;
  const { owner, c } = workerOf(objects);

  it("gives each worker pod one GPU, seen as cuda:0, on GPU nodes only", async () => {
    expect(c.resources?.limits?.["nvidia.com/gpu"]).toBe(1);
    expect(c.resources?.requests?.["nvidia.com/gpu"]).toBeUndefined();
    const { options } = await parseCli(resolvedArgs(objects, owner, c), registerWorker);
    expect(parseDevice(String(options.device))).toEqual({ kind: "cuda", id: 0 });
    // The device plugin exposes only the allocated GPU; setting it here would point at the wrong one.
    expect(c.env?.map((e) => e.name)).not.toContain("CUDA_VISIBLE_DEVICES");
    const spec = podSpec(owner);
    expect(Object.keys(spec.nodeSelector ?? {})).not.toHaveLength(0);
    expect(spec.tolerations).toContainEqual(
      expect.objectContaining({ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }),
    );
    expect((owner.spec as { replicas?: number }).replicas).toBeUndefined();
  });

  it("shares outputs and models on ReadWriteMany claims, models read-only", () => {
    for (const name of ["latent-fleet-outputs", "latent-fleet-models"]) {
      const pvc = find(objects, "PersistentVolumeClaim", name);
      expect((pvc.spec as { accessModes: string[] }).accessModes).toEqual(["ReadWriteMany"]);
    }
    const models = podSpec(owner).volumes?.find(
      (v) => v.persistentVolumeClaim?.claimName === "latent-fleet-models",
    );
    expect(c.volumeMounts?.find((m) => m.name === models?.name)?.readOnly).toBe(true);
  });

  it("labels the dashboard for Grafana's sidecar, with the JSON of deploy/grafana", () => {
    const cm = find(objects, "ConfigMap", "latent-fleet-dashboard");
    expect(cm.metadata.labels?.grafana_dashboard).toBe("1");
    const file = readFileSync(DASHBOARD_FILE, "utf8");
    expect((cm.data as Record<string, string>)["latent-fleet.json"]).toBe(file);
    const dashboard = JSON.parse(file) as { uid?: string; title?: string };
    expect(dashboard.uid).toBeTruthy();
    expect(dashboard.title).toBeTruthy();
    // The sidecar does not resolve an export's __inputs: data sources must be a template variable.
    expect(file).not.toContain("__inputs");
    expect(file).not.toContain("${DS_");
  });
});

describe("cpu overlay", () => {
  const objects = rendered.get("cpu")!;

  it("runs the model baked into the CPU image, without GPU resources or a models claim", async () => {
    const { owner, c } = workerOf(objects);
    const { options } = await parseCli(resolvedArgs(objects, owner, c), registerWorker);
    expect(parseDevice(String(options.device)).kind).toBe("cpu");
    const dockerfile = readFileSync(join(ROOT, "deploy", "docker", "Dockerfile.cpu"), "utf8");
    const modelName = /^ARG MODEL_NAME=(\S+)$/m.exec(dockerfile)?.[1];
    expect(dockerfile).toMatch(/^\s*MODEL_DIR=\/app\/models\/\$\{MODEL_NAME\}/m);
    expect(options.model).toBe(`/app/models/${modelName}`);
    expect(JSON.stringify(c.resources)).not.toContain("nvidia.com/gpu");
    expect(ofKind(objects, "PersistentVolumeClaim").map((p) => p.metadata.name)).toEqual([
      "latent-fleet-outputs",
    ]);
  });

  it("keeps the workers on the coordinator's node, where its ReadWriteOnce outputs volume is", () => {
    const pvc = find(objects, "PersistentVolumeClaim", "latent-fleet-outputs");
    expect((pvc.spec as { accessModes: string[] }).accessModes).toEqual(["ReadWriteOnce"]);
    const { owner } = workerOf(objects);
    const terms = podSpec(owner).affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    const coordinator = coordinatorOf(objects).owner;
    expect(
      terms.some(
        (t) =>
          t.topologyKey === "kubernetes.io/hostname" &&
          matches(t.labelSelector?.matchLabels, podLabels(coordinator)),
      ),
    ).toBe(true);
  });
});

describe("metrics", () => {
  let server: MetricsServer;
  beforeAll(async () => {
    server = await startMetricsServer("127.0.0.1:0", createMetricsRegistry());
  });
  afterAll(async () => {
    await server.stop();
  });

  it("every monitor scrapes a path the metrics server serves", async () => {
    const paths = new Set<string>();
    for (const objects of rendered.values()) {
      for (const pm of ofKind(objects, "PodMonitor")) {
        for (const e of (pm.spec as { podMetricsEndpoints: { path?: string }[] }).podMetricsEndpoints) {
          paths.add(e.path ?? "/metrics");
        }
      }
      for (const sm of ofKind(objects, "ServiceMonitor")) {
        for (const e of (sm.spec as { endpoints: { path?: string }[] }).endpoints)
          paths.add(e.path ?? "/metrics");
      }
    }
    expect(paths.size).toBeGreaterThan(0);
    for (const path of paths) {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
      expect(res.status, path).toBe(200);
      expect(await res.text()).toContain("latent_fleet_");
    }
  });
});

describe("docs/deploy.md", () => {
  const docs = readFileSync(join(ROOT, "docs", "deploy.md"), "utf8");
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "lf-deploy-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("the overlay it tells users to write renders, validates and does what it says", () => {
    const block = [...docs.matchAll(/```yaml\n(# my-cluster\/kustomization\.yaml\n[\s\S]*?)```/g)].map(
      (m) => m[1],
    );
    expect(block).toHaveLength(1);
    // The snippet sits next to a checkout named latent-fleet.
    symlinkSync(ROOT, join(dir, "latent-fleet"), "dir");
    mkdirSync(join(dir, "my-cluster"));
    writeFileSync(join(dir, "my-cluster", "kustomization.yaml"), block[0]);
    const objects = render(join(dir, "my-cluster"));
    for (const obj of objects) validateObject(obj);

    for (const monitor of [...ofKind(objects, "PodMonitor"), ...ofKind(objects, "ServiceMonitor")]) {
      expect(monitor.metadata.labels?.release, monitor.metadata.name).toBeTruthy();
    }
    const model = basename(configValue(objects, "MODEL_DIR"));
    const [so] = ofKind(objects, "ScaledObject");
    const trigger = (so.spec as { triggers: { metadata: Record<string, string> }[] }).triggers[0];
    expect(trigger.metadata.consumer).toBe(workersConsumerName(model));
    expect(container(find(objects, "Deployment", "latent-fleet-worker"), "worker").image).not.toMatch(
      /^latent-fleet(:|$)/,
    );
  });
});

describe("tools/model-loader.yaml", () => {
  it("is a valid pod that writes the models claim as the workers' user", () => {
    const [pod] = parseYamlObjects(
      readFileSync(join(K8S_DIR, "tools", "model-loader.yaml"), "utf8"),
      "loader",
    );
    validateObject(pod);
    expect(pod.metadata.namespace).toBe(NAMESPACE);
    const gpu = rendered.get("gpu")!;
    const volume = podSpec(pod).volumes?.[0];
    find(gpu, "PersistentVolumeClaim", volume?.persistentVolumeClaim?.claimName ?? "");
    expect(podSpec(pod).securityContext?.runAsUser).toBe(
      podSpec(workerOf(gpu).owner).securityContext?.runAsUser,
    );
  });
});
