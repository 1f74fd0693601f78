import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseSchedulerName } from "../../src/common/contract/schedulers.js";
import {
  calculateShift,
  createScheduler,
  defaultSchedulerName,
  type FlowMatchEulerScheduler,
  type FlowScheduleOptions,
  flowImageSeqLen,
  resolveFlowMatchConfig,
  type SchedulerConfigInput,
  schedulerConfigFamily,
} from "../../src/engine/schedulers/index.js";
import { expectError } from "../helpers/expect-error.js";

/** The scheduler_config.json files the models ship (SD3-medium, FLUX.1-dev, FLUX.1-schnell). */
const SD3: SchedulerConfigInput = {
  _class_name: "FlowMatchEulerDiscreteScheduler",
  num_train_timesteps: 1000,
  shift: 3.0,
};
const FLUX_ANCHORS = { base_image_seq_len: 256, base_shift: 0.5, max_image_seq_len: 4096, max_shift: 1.15 };
const FLUX_DEV: SchedulerConfigInput = { ...SD3, ...FLUX_ANCHORS, use_dynamic_shifting: true };
const FLUX_SCHNELL: SchedulerConfigInput = {
  ...SD3,
  ...FLUX_ANCHORS,
  shift: 1.0,
  use_dynamic_shifting: false,
};
const SD15_PNDM: SchedulerConfigInput = {
  _class_name: "PNDMScheduler",
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  steps_offset: 1,
};

interface Golden {
  steps: number;
  width?: number;
  height?: number;
  image_seq_len?: number;
  mu?: number;
  sigmas: number[];
  timesteps: number[];
}

/**
 * Not published by diffusers (its tests have no flow-match tables): computed from diffusers' formulas by the
 * independent Python script beside the fixture (flow-match-goldens.py, diffusers commit 58eb52c0).
 */
const GOLDEN = JSON.parse(
  readFileSync(new URL("../fixtures/schedulers/flow-match-goldens.json", import.meta.url), "utf8"),
) as Record<string, Golden>;

const fluxRun = (g: Golden): FlowScheduleOptions => ({
  imageSeqLen: flowImageSeqLen(g.width ?? 0, g.height ?? 0),
  sigmaGrid: "flux_pipeline",
});

function maxAbsDiff(actual: ArrayLike<number>, expected: number[]): number {
  expect(actual.length).toBe(expected.length);
  return expected.reduce((m, v, i) => Math.max(m, Math.abs(actual[i] - v)), 0);
}

describe("flow-matching σ and timestep tables (diffusers formulas, 1024x1024)", () => {
  const cases: [string, SchedulerConfigInput, (g: Golden) => FlowScheduleOptions | undefined][] = [
    ["sd3_28", SD3, () => undefined],
    ["flux_dev_4_1024", FLUX_DEV, fluxRun],
    ["flux_dev_28_1024", FLUX_DEV, fluxRun],
    ["flux_dev_28_512", FLUX_DEV, fluxRun],
    ["flux_schnell_4_1024", FLUX_SCHNELL, fluxRun],
  ];
  for (const [key, config, options] of cases) {
    it(key, () => {
      const g = GOLDEN[key];
      if (g.image_seq_len !== undefined) {
        expect(flowImageSeqLen(g.width ?? 0, g.height ?? 0)).toBe(g.image_seq_len);
        expect(calculateShift(g.image_seq_len, resolveFlowMatchConfig(config))).toBeCloseTo(
          g.mu ?? Number.NaN,
          12,
        );
      }
      const s = createScheduler(
        "flow_euler",
        config,
        g.steps,
        undefined,
        options(g),
      ) as FlowMatchEulerScheduler;
      // float32 values on both sides; the script rounds each numpy op to float32, this code once at the end.
      expect(maxAbsDiff(s.sigmas, g.sigmas)).toBeLessThan(1e-6);
      expect(maxAbsDiff(s.timesteps, g.timesteps)).toBeLessThan(1e-3);
      expect(s.sigmas[0]).toBe(1);
      expect(s.sigmas[g.steps]).toBe(0);
      expect(s.initNoiseSigma).toBe(1);
    });
  }

  it("SD3's own ends: σ_min shifted twice, as diffusers does", () => {
    const s = createScheduler("flow_euler", SD3, 28) as FlowMatchEulerScheduler;
    const once = (3 * 0.001) / (1 + 2 * 0.001);
    expect(s.sigmas[27]).toBeCloseTo((3 * once) / (1 + 2 * once), 6);
    expect(s.timesteps[0]).toBe(1000);
  });
});

/** Deterministic values in [-1, 1) (an LCG), standing in for unit noise. */
function values(seed: number, n: number): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 31 - 1;
  });
}

/**
 * A full loop with an oracle transformer that knows x0: from its input x and timestep t it returns the exact
 * velocity (x − x0)/σ with σ = t/1000. Every state must lie on the straight path (1 − σ)·x0 + σ·ε and the last
 * on x0: this checks the timestep convention, the σ table and the step together.
 */
function sampleWithOracle(
  config: SchedulerConfigInput,
  steps: number,
  options?: FlowScheduleOptions,
  oracleT = 1000,
) {
  const n = 64;
  const x0 = values(1, n);
  const eps = values(2, n);
  const s = createScheduler("flow_euler", config, steps, undefined, options) as FlowMatchEulerScheduler;
  let x: Float32Array = eps.map((v) => v * s.initNoiseSigma);
  let offPath = 0;
  s.timesteps.forEach((t, i) => {
    const input = s.scaleModelInput(x, i);
    const sigma = t / oracleT;
    x = s.step(
      input.map((v, k) => (v - x0[k]) / sigma),
      i,
      x,
    );
    const next = s.sigmas[i + 1];
    for (let k = 0; k < n; k++)
      offPath = Math.max(offPath, Math.abs(x[k] - ((1 - next) * x0[k] + next * eps[k])));
  });
  const landing = x.reduce((m, v, k) => Math.max(m, Math.abs(v - x0[k])), 0);
  return { offPath, landing };
}

describe("flow-matching Euler lands on the clean sample with an exact model", () => {
  const cases: [string, SchedulerConfigInput, number, FlowScheduleOptions | undefined][] = [
    ["SD3, 28 steps", SD3, 28, undefined],
    ["FLUX.1-dev, 4 steps at 1024", FLUX_DEV, 4, { imageSeqLen: 4096, sigmaGrid: "flux_pipeline" }],
    ["FLUX.1-dev, 28 steps at 512", FLUX_DEV, 28, { imageSeqLen: 1024, sigmaGrid: "flux_pipeline" }],
    ["FLUX.1-schnell, 4 steps", FLUX_SCHNELL, 4, { sigmaGrid: "flux_pipeline" }],
    [
      "linear time shift, shift_terminal",
      { ...FLUX_DEV, time_shift_type: "linear", shift_terminal: 0.1 },
      8,
      { mu: 1 },
    ],
    ["one step", SD3, 1, undefined],
  ];
  for (const [label, config, steps, options] of cases) {
    it(label, () => {
      const { offPath, landing } = sampleWithOracle(config, steps, options);
      expect(offPath).toBeLessThan(2e-5);
      expect(landing).toBeLessThan(2e-5);
    });
  }

  it("the oracle notices a wrong timestep convention", () => {
    // An oracle reading σ = t/999 (DDPM's 0..999 table convention) must fail the bounds the right one meets.
    const { offPath, landing } = sampleWithOracle(SD3, 28, undefined, 999);
    expect(Math.max(offPath, landing)).toBeGreaterThan(2e-5);
  });

  it("shift_terminal ends the schedule at its value; the step is x + (σ_next − σ)·v", () => {
    const s = createScheduler("flow_euler", { ...SD3, shift_terminal: 0.05 }, 10) as FlowMatchEulerScheduler;
    expect(s.sigmas[9]).toBeCloseTo(0.05, 6);
    const x = Float32Array.of(1, 2);
    const v = Float32Array.of(0.5, -1);
    const dt = s.sigmas[1] - s.sigmas[0];
    expect(Array.from(s.step(v, 0, x))).toEqual([Math.fround(1 + dt * 0.5), Math.fround(2 - dt)]);
    // In place, as the sampling loop steps its latents: the same numbers, in the sample's own array.
    const inPlace = Float32Array.from(x);
    expect(s.step(v, 0, inPlace, undefined, inPlace)).toBe(inPlace);
    expect(Array.from(inPlace)).toEqual([Math.fround(1 + dt * 0.5), Math.fround(2 - dt)]);
    expect(s.scaleModelInput(x, 0)).toBe(x);
    expect(createScheduler("flow_euler", SD3, 10).needsNoise(0)).toBe(false);
  });
});

describe("flow schedulers and model families", () => {
  it("parses the name, its aliases and the diffusers class; flow configs default to it", () => {
    expect(parseSchedulerName("FlowMatchEulerDiscreteScheduler")).toBe("flow_euler");
    expect(parseSchedulerName("flow-match-euler")).toBe("flow_euler");
    expect(parseSchedulerName("Flow Euler")).toBe("flow_euler");
    expect(defaultSchedulerName(SD3)).toBe("flow_euler");
    expect(defaultSchedulerName(FLUX_DEV)).toBe("flow_euler");
    expect(defaultSchedulerName({ _class_name: "FlowMatchHeunDiscreteScheduler" })).toBe("flow_euler");
    expect(defaultSchedulerName({ _class_name: "DPMSolverMultistepScheduler", use_flow_sigmas: true })).toBe(
      "flow_euler",
    );
    expect(defaultSchedulerName(SD15_PNDM)).toBe("euler");
    expect(schedulerConfigFamily({ shift: 3 })).toBe("flow");
    expect(schedulerConfigFamily({ beta_schedule: "linear" })).toBe("noise");
    expect(schedulerConfigFamily({})).toBeUndefined();
  });

  it("a UNet-family model cannot use a flow scheduler, nor a flow model a noise one", () => {
    expectError(
      () => createScheduler("flow_euler", SD15_PNDM, 20),
      "INVALID_ARGUMENT",
      "flow-matching scheduler",
    );
    expectError(() => createScheduler("flow_euler", SD15_PNDM, 20), "INVALID_ARGUMENT", "PNDMScheduler");
    for (const name of ["euler", "ddim", "dpmpp_2m", "lcm"] as const) {
      expectError(() => createScheduler(name, SD3, 20), "INVALID_ARGUMENT", "use flow_euler");
    }
    // Nothing in an empty config tells: both kinds are allowed, as before.
    expect(createScheduler("flow_euler", {}, 4).timesteps).toHaveLength(4);
    expect(createScheduler("euler", {}, 4).timesteps).toHaveLength(4);
  });

  it("rejects what it cannot honour", () => {
    expectError(
      () => createScheduler("flow_euler", FLUX_DEV, 28),
      "INVALID_ARGUMENT",
      "image sequence length",
    );
    for (const flag of ["stochastic_sampling", "invert_sigmas", "use_karras_sigmas", "use_beta_sigmas"]) {
      expectError(
        () => createScheduler("flow_euler", { ...SD3, [flag]: true }, 4),
        "SCHEDULER_CONFIG_INVALID",
        flag,
      );
    }
    const bad: [SchedulerConfigInput, string][] = [
      [{ shift: 0 }, "shift"],
      [{ use_dynamic_shifting: "yes" }, "use_dynamic_shifting"],
      [{ time_shift_type: "cosine" }, "time_shift_type"],
      [{ shift_terminal: 1 }, "shift_terminal"],
      [{ ...FLUX_DEV, max_image_seq_len: 256 }, "max_image_seq_len"],
    ];
    for (const [config, field] of bad) {
      expectError(
        () => createScheduler("flow_euler", { ...SD3, ...config }, 4),
        "SCHEDULER_CONFIG_INVALID",
        field,
      );
    }
    for (const steps of [0, 2.5, 1001])
      expectError(() => createScheduler("flow_euler", SD3, steps), "INVALID_ARGUMENT", "steps");
    const s = createScheduler("flow_euler", SD3, 2);
    expectError(() => s.step(new Float32Array(2), 2, new Float32Array(2)), "INVALID_ARGUMENT", "step index");
    expectError(() => s.step(new Float32Array(3), 0, new Float32Array(2)), "INVALID_ARGUMENT", "length");
  });
});
