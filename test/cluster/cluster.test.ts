/**
 * Beyond one machine: a three-node NATS JetStream cluster (streams and the job bucket at replicas 3), the
 * coordinator on a host of its own and three workers on three more (network namespaces, see
 * test/helpers/nats-cluster.ts), every client given all three URLs. Workers run the bundled model at
 * 16x16, one step (the chaos suite's job shape), so the PNG bytes can be compared with a fault-free run.
 *
 * One job meets faults in sequence, each while the job runs and each checked to have hit: the node leading
 * the job bucket SIGKILLed while the coordinator writes its publishing cursor, and the node leading the task
 * stream SIGKILLed (restarted 2 s and 10 s later: the first must be back while the job still runs); one NATS node cut off from the other two and from its clients (they move to the majority); a worker host cut off for
 * longer than the ack wait while it held a task, then back; the coordinator's host killed and the
 * coordinator started on another host (it resumes from KV). The job must end SUCCEEDED once, every sample
 * exactly once, the same ids, seeds, files and PNG bytes as the fault-free run. Each fault's time to
 * recover (first progress after it), the redeliveries and the duplicate task runs are printed.
 *
 * Test time: `npm test` runs a job of 6,480 samples and the first two faults (with the fault-free
 * reference run and the cluster's start, about 50 s on a quiet machine); LF_CLUSTER_FULL=1 runs a job of
 * 12,000 samples and all five faults: the three more need a longer job to happen in, and its reference run
 * as long again, over the suite's time budget.
 *
 * Needs root (network namespaces); vitest reports it skipped elsewhere, with the reason. Everything is
 * removed in afterAll, also when a test fails. LF_CLUSTER_LOGS=<dir> keeps every process's output.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JOBS_BUCKET, TASKS_STREAM } from "../../src/common/nats/names.js";
import type { Job } from "../../src/common/proto/generated/latentfleet/v1/Job.js";
import {
  type ChaosJob,
  checkOutput,
  compareWithReference,
  digestOutput,
  type OutputDigest,
  writeChaosJob,
} from "../chaos/job-output.js";
import { type LanHost, netnsUnavailable, TestLan } from "../chaos/netns.js";
import { ClusterFleet } from "../helpers/nats-cluster.js";
import { tasksDone, tasksHeld } from "../helpers/worker-log.js";

const noNetns = netnsUnavailable();
const KV_STREAM = `KV_${JOBS_BUCKET}`;
/**
 * 3,240 (full: 3,000) template rows x 4 images: 12,960 (12,000) samples in tasks of 16. A quiet machine
 * makes ~400-500 samples/s here (6,480 samples ended before the second fault once publishing got faster): the job must outlast the first fault, its node's restart and the leaders'
 * settling, or the second fault cannot hit a running job (and the test fails, as it must).
 */
const FULL = process.env.LF_CLUSTER_FULL === "1";
const ROWS = FULL ? 3000 : 3240;
const PER_PROMPT = 4;
const JOB_TIMEOUT_MS = 150_000;
const ACK_WAIT_S = 3;
/** Workers log "task received" at debug level: the cut-off worker must have held a task. */
const ENV = { ...process.env, LF_LOG_LEVEL: "debug" };

interface FaultRow {
  fault: string;
  hit: string;
  recoverS: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const made = (job: Job | undefined) => (job ? Number(job.samples_done) + Number(job.samples_failed) : -1);

describe.skipIf(noNetns !== undefined)(
  `a three-node JetStream cluster and a fleet over six hosts${noNetns ? ` (skipped: ${noNetns})` : ""}`,
  () => {
    let lan: TestLan;
    let root: string;
    let fleet: ClusterFleet;
    let reference: OutputDigest | undefined;
    const hosts: Record<string, LanHost> = {};
    const rows: FaultRow[] = [];

    beforeAll(async () => {
      lan = TestLan.create();
      root = await mkdtemp(join(tmpdir(), "lf-cluster-"));
      const place: [string, number][] = [
        ["n1", 11],
        ["n2", 12],
        ["n3", 13],
        ["c1", 21],
        ["c2", 22],
        ["w1", 31],
        ["w2", 32],
        ["w3", 33],
      ];
      for (const [name, k] of place) hosts[name] = lan.addHost(name, k);
      fleet = await ClusterFleet.start({
        lan,
        root,
        natsHosts: [hosts.n1, hosts.n2, hosts.n3],
        coordinatorFlags: ["--shard-size", "16"],
        workerFlags: ["--ack-wait", String(ACK_WAIT_S), "--max-deliver", "10"],
        env: ENV,
      });
      // Side by side: each makes the streams and the bucket at replicas 3 if it comes first.
      await Promise.all([
        fleet.startCoordinator(hosts.c1),
        ...["w1", "w2", "w3"].map((w) => fleet.startWorker(w, hosts[w])),
      ]);
    });

    afterAll(async () => {
      if (rows.length > 0) {
        console.log(
          [
            "| fault | hit | recovered (s) |",
            "|---|---|---|",
            ...rows.map((r) => `| ${r.fault} | ${r.hit} | ${r.recoverS} |`),
          ].join("\n"),
        );
      }
      await fleet?.stop();
      lan?.removeAll();
      if (root) await rm(root, { recursive: true, force: true });
    });

    async function submit(job: ChaosJob, out: string): Promise<string> {
      return (await fleet.client()).submit(job.spec, { out });
    }

    async function endAndCheck(jobId: string, job: ChaosJob, out: string): Promise<Job> {
      const end = await fleet.waitForEnd(jobId, JOB_TIMEOUT_MS);
      expect(end.state, end.error).toBe("JOB_STATE_SUCCEEDED");
      expect(Number(end.samples_done)).toBe(job.total);
      await checkOutput(out, job);
      return end;
    }

    it(`runs a job of ${ROWS * PER_PROMPT} samples without faults (the reference)`, async () => {
      const job = await writeChaosJob(join(root, "spec-ref"), { rows: ROWS, perPrompt: PER_PROMPT });
      const out = join(root, "out-ref");
      const t0 = Date.now();
      const jobId = await submit(job, out);
      await endAndCheck(jobId, job, out);
      reference = await digestOutput(out);
      expect(reference.size).toBe(job.total);
      console.log(`cluster: fault-free job of ${job.total} samples in ${(Date.now() - t0) / 1000} s`);
    });

    it(`rides out ${FULL ? "five" : "two (LF_CLUSTER_FULL=1: five)"} faults in sequence on one job: SUCCEEDED once, every sample once, same PNGs`, async (ctx) => {
      if (!reference) ctx.skip();
      const ref = reference as OutputDigest;
      const job = await writeChaosJob(join(root, "spec-faults"), { rows: ROWS, perPrompt: PER_PROMPT });
      const out = join(root, "out-faults");
      const jobId = await submit(job, out);

      /** Fails unless the job is under way with samples left; returns its progress. */
      const running = async (want?: string): Promise<Job> => {
        const j = await fleet.getJob(jobId);
        expect(j, "the coordinator answers").toBeDefined();
        const at = `${made(j)}/${job.total} ${j?.state}`;
        expect(want ? [want] : ["JOB_STATE_PUBLISHING", "JOB_STATE_RUNNING"], at).toContain(j?.state);
        expect(made(j), at).toBeLessThan(job.total);
        return j as Job;
      };
      /** Seconds from `since` until the job made more than `before` samples (bounded). */
      const recovered = async (before: number, since: number): Promise<number> => {
        for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
          if (made(await fleet.getJob(jobId)) > before) return Math.round((Date.now() - since) / 100) / 10;
        }
        throw new Error(`no progress within 60 s after the fault (stuck at ${before})`);
      };
      const untilMade = async (samples: number) => {
        for (const deadline = Date.now() + 90_000; Date.now() < deadline; await sleep(100)) {
          if (made(await fleet.getJob(jobId)) >= samples) return;
        }
        throw new Error(`the job did not reach ${samples} samples within 90 s`);
      };

      /**
       * SIGKILLs the node leading `stream`, starts it again `backAfterS` later; the row records the recovery.
       * The next fault waits for the restart (two nodes down is no quorum), so a fault that has another
       * after it brings its node back soon: the job must still be running for that one to hit.
       */
      const killLeader = async (stream: string, backAfterS: number, want?: string) => {
        const leader = await fleet.settledLeader(stream);
        await fleet.settledLeader(stream === KV_STREAM ? TASKS_STREAM : KV_STREAM);
        const at = await running(want);
        const node = fleet.node(leader);
        expect(await fleet.leaderOf(stream), `${leader} still leads ${stream}`).toBe(leader);
        const t = Date.now();
        await node.server.kill();
        const back = sleep(backAfterS * 1000).then(() => node.server.restart());
        const recoverS = await recovered(made(at), t);
        await back;
        rows.push({
          fault: `SIGKILL ${leader}, the ${stream} leader, back after ${backAfterS} s`,
          hit: `${made(at)}/${job.total} ${at.state.replace("JOB_STATE_", "").toLowerCase()}`,
          recoverS,
        });
      };
      // 1. The job bucket's leader, while the coordinator publishes (and writes its cursor).
      await untilMade(1);
      await killLeader(KV_STREAM, 2, "JOB_STATE_PUBLISHING");
      // 2. The task stream's leader.
      await untilMade(job.total * (FULL ? 0.2 : 0.1));
      await killLeader(TASKS_STREAM, 10);
      if (FULL) {
        // 3. One node cut off from the other two and from its clients; they move to the majority.
        {
          await untilMade(job.total * 0.4);
          await fleet.settledLeader(TASKS_STREAM);
          await fleet.settledLeader(KV_STREAM);
          const [a, b, victim] = fleet.nodes;
          const onVictim = await connections(victim.host);
          expect(onVictim, `${victim.name} had no clients before it was cut off`).toBeGreaterThan(0);
          const onMajority = (await connections(a.host)) + (await connections(b.host));
          const at = await running();
          const t = Date.now();
          lan.setLink(victim.host, false);
          // Its clients would notice the silence by their pings (a minute by default): reset them now.
          for (const h of [undefined, hosts.c1, hosts.w1, hosts.w2, hosts.w3]) {
            lan.resetConnections(h, victim.host.address, 4222);
          }
          const recoverS = await recovered(made(at), t);
          let moved = 0;
          for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
            moved = (await connections(a.host)) + (await connections(b.host)) - onMajority;
            if (moved >= onVictim) break;
          }
          rows.push({
            fault: `${victim.name} cut off; its ${onVictim} clients moved to ${a.name}/${b.name}: ${moved}`,
            hit: `${made(at)}/${job.total}`,
            recoverS,
          });
          expect(moved, "clients of the cut-off node reconnected to the majority").toBeGreaterThanOrEqual(
            onVictim,
          );
          await sleep(Math.max(0, 6_000 - (Date.now() - t)));
          lan.setLink(victim.host, true);
        }
        // 4. A worker host cut off longer than the ack wait while it held a task, then back.
        {
          await untilMade(job.total * 0.6);
          const w = fleet.workers.get("w1");
          if (!w) throw new Error("no worker w1");
          for (
            const deadline = Date.now() + 20_000;
            tasksHeld(w.output(), jobId).length === 0;
            await sleep(5)
          ) {
            if (Date.now() > deadline) throw new Error("w1 held no task within 20 s");
          }
          lan.setLink(hosts.w1, false);
          const held = tasksHeld(w.output(), jobId);
          const at = await running();
          const t = Date.now();
          const recoverS = await recovered(made(at), t);
          await sleep(Math.max(0, (ACK_WAIT_S + 3) * 1000 - (Date.now() - t)));
          lan.setLink(hosts.w1, true);
          rows.push({
            fault: `w1 cut off ${ACK_WAIT_S + 3} s (ack wait ${ACK_WAIT_S} s)`,
            hit: `${made(at)}/${job.total}, w1 held shard ${held.map((h) => h.shard).join(",")}`,
            recoverS,
          });
          expect(held.length).toBeGreaterThan(0);
        }
        // 5. The coordinator's host killed; the coordinator started on another host.
        {
          await untilMade(job.total * 0.75);
          const at = await running();
          const t = Date.now();
          await fleet.killCoordinator();
          lan.setLink(hosts.c1, false);
          await fleet.startCoordinator(hosts.c2);
          const recoverS = await recovered(made(at), t);
          rows.push({
            fault: "coordinator host c1 killed, coordinator started on c2",
            hit: `${made(at)}/${job.total}`,
            recoverS,
          });
        }
      }
      const end = await endAndCheck(jobId, job, out);
      const compared = await compareWithReference(out, job, ref);
      expect(compared).toBe(job.total);
      // The job ended once: the coordinator on c2 wrote its end, nobody else did.
      const ended = fleet.processes
        .filter((p) => p.name.startsWith("coordinator@"))
        .flatMap((p) => p.output().split("\n"))
        .filter((l) => l.includes('"msg":"job ended"') && l.includes(jobId));
      expect(ended).toHaveLength(1);
      const runs = [...fleet.workers.values()].flatMap((p) => tasksDone(p.output(), jobId));
      const redeliveries = runs.filter((r) => r.delivery > 1).length;
      const shards = new Map<string, number>();
      for (const r of runs) shards.set(r.shard, (shards.get(r.shard) ?? 0) + 1);
      const duplicateRuns = [...shards.values()].filter((n) => n > 1).length;
      console.log(
        `cluster faults: ${end.state}, ${compared} samples = fault-free run (id, seed, file, PNG bytes); ` +
          `${runs.length} task runs for ${shards.size} shards, ${redeliveries} redelivered, ${duplicateRuns} shards run twice or more (outputs: 0 duplicates)`,
      );
      expect(shards.size).toBe(Math.ceil(job.total / 16));
    });
  },
);

/** Clients connected to a node now (its monitoring endpoint /connz, asked from this host). */
async function connections(host: LanHost): Promise<number> {
  const res = await fetch(`http://${host.address}:8222/connz`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { num_connections?: number };
  return body.num_connections ?? 0;
}
