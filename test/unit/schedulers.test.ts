import { describe, expect, it } from "vitest";
import {
  isFlowScheduler,
  parseSchedulerName,
  SCHEDULER_NAMES,
  type SchedulerName,
} from "../../src/common/contract/schedulers.js";
import {
  alphasCumprod,
  createScheduler,
  type DpmSolverMultistepScheduler,
  defaultSchedulerName,
  type EulerScheduler,
  resolveSchedulerConfig,
  type Scheduler,
  type SchedulerConfigInput,
  sigmaTable,
} from "../../src/engine/schedulers/index.js";
import { expectError } from "../helpers/expect-error.js";

/** Stable Diffusion's training schedule, as SD1.5's PNDMScheduler config carries it (no timestep_spacing). */
const SD15_PNDM: SchedulerConfigInput = {
  _class_name: "PNDMScheduler",
  _diffusers_version: "0.6.0",
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};
const SD: SchedulerConfigInput = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: "scaled_linear" };
const SDXL_EULER: SchedulerConfigInput = {
  ...SD,
  _class_name: "EulerDiscreteScheduler",
  interpolation_type: "linear",
  prediction_type: "epsilon",
  steps_offset: 1,
  timestep_spacing: "leading",
  use_karras_sigmas: false,
};
const LINEAR: SchedulerConfigInput = { beta_start: 0.0001, beta_end: 0.02, beta_schedule: "linear" };

const list = (a: Float64Array) => Array.from(a);
const closeAll = (actual: ArrayLike<number>, expected: number[], tol: number) => {
  expect(actual.length).toBe(expected.length);
  for (const [i, v] of expected.entries()) {
    expect(Math.abs(actual[i] - v), `index ${i}: ${actual[i]} vs ${v}`).toBeLessThan(tol);
  }
};
const eulerSigmas = (s: Scheduler) => (s as EulerScheduler).sigmas;

describe("noise schedule", () => {
  it("matches the SD scaled_linear σ table ends", () => {
    const s = sigmaTable(alphasCumprod(resolveSchedulerConfig("euler", SD)));
    // diffusers (float32 cumprod) gives 14.614641, float64 gives 14.6146555: accept both.
    expect(Math.abs(s[999] / 14.61465 - 1)).toBeLessThan(2e-6);
    expect(Math.abs(s[0] / 0.029167533 - 1)).toBeLessThan(1e-5);
  });
});

describe("timesteps and sigmas", () => {
  it("DDIM leading with steps_offset", () => {
    const ddim50 = createScheduler("ddim", { ...SD, steps_offset: 1 }, 50);
    expect(list(ddim50.timesteps)).toEqual(Array.from({ length: 50 }, (_, i) => 981 - 20 * i));
    expect(list(createScheduler("ddim", { ...LINEAR, steps_offset: 1 }, 5).timesteps)).toEqual([
      801, 601, 401, 201, 1,
    ]);
    // SD1.5's PNDM file: DDIM's own default spacing (leading) with the file's offset.
    expect(createScheduler("ddim", SD15_PNDM, 50).timesteps[0]).toBe(981);
  });

  it("DDIM trailing and linspace", () => {
    const ts = (spacing: string, n: number) =>
      list(createScheduler("ddim", { ...SD, timestep_spacing: spacing }, n).timesteps);
    expect(ts("trailing", 1)).toEqual([999]);
    expect(ts("trailing", 2)).toEqual([999, 499]);
    expect(ts("trailing", 4)).toEqual([999, 749, 499, 249]);
    expect(ts("linspace", 4)).toEqual([999, 666, 333, 0]);
    expect(ts("linspace", 10)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    // numpy's arange would give 62 values here (the last one −1); exactly 61 remain.
    expect(ts("trailing", 61)).toHaveLength(61);
    expect(Math.min(...ts("trailing", 61))).toBeGreaterThanOrEqual(0);
  });

  it("Euler linspace 20 (also from SD1.5's PNDM file, which has no timestep_spacing)", () => {
    for (const config of [SD, SD15_PNDM]) {
      const s = createScheduler("euler", config, 20);
      closeAll(s.timesteps.subarray(0, 3), [999, 946.4211, 893.8421], 1e-4);
      const sig = eulerSigmas(s);
      closeAll(sig.subarray(0, 3), [14.614641, 10.746844, 8.081534], 2e-4);
      expect(sig[19]).toBeCloseTo(0.029167, 5);
      expect(sig[20]).toBe(0);
      expect(s.initNoiseSigma).toBeCloseTo(14.6146, 3);
    }
  });

  it("Euler linspace 10, leading offset 1 (SDXL) and trailing", () => {
    closeAll(
      eulerSigmas(createScheduler("euler", SD, 10)),
      [14.614655, 7.83989, 4.609178, 2.918308, 1.950162, 1.344928, 0.932358, 0.624977, 0.368658, 0.029168, 0],
      2e-4,
    );
    const xl = createScheduler("euler", SDXL_EULER, 30);
    expect(list(xl.timesteps)).toEqual(Array.from({ length: 30 }, (_, i) => 958 - 33 * i));
    closeAll(
      eulerSigmas(xl),
      [
        11.476857, 9.543591, 8.004317, 6.768388, 5.767777, 4.951044, 4.279003, 3.721593, 3.255589, 2.862932,
        2.529487, 2.244122, 1.998015, 1.784132, 1.596831, 1.431561, 1.284621, 1.152989, 1.034167, 0.926079,
        0.826973, 0.735343, 0.649857, 0.569285, 0.492409, 0.41788, 0.343932, 0.267653, 0.182166, 0.041314, 0,
      ],
      2e-4,
    );
    expect(xl.initNoiseSigma).toBeCloseTo(11.520341, 3);
    const turbo = createScheduler("euler_ancestral", SD, 4, { timestep_spacing: "trailing" });
    expect(list(turbo.timesteps)).toEqual([999, 749, 499, 249]);
    closeAll(eulerSigmas(turbo), [14.614655, 4.081732, 1.612887, 0.693205, 0], 2e-4);
    expect(turbo.initNoiseSigma).toBeCloseTo(14.614655, 3);
    expect(list(createScheduler("euler", { ...SD, timestep_spacing: "trailing" }, 1).timesteps)).toEqual([
      999,
    ]);
  });

  it("DPM-Solver++ linspace and leading", () => {
    expect(list(createScheduler("dpmpp_2m", SD, 20).timesteps)).toEqual([
      999, 949, 899, 849, 799, 749, 699, 649, 599, 549, 500, 450, 400, 350, 300, 250, 200, 150, 100, 50,
    ]);
    const leading = { ...SD, steps_offset: 1, timestep_spacing: "leading" };
    const ts20 = list(createScheduler("dpmpp_2m", leading, 20).timesteps);
    expect(ts20).toEqual(Array.from({ length: 20 }, (_, i) => 941 - 47 * i));
    const ts25 = list(createScheduler("dpmpp_2m", leading, 25).timesteps);
    expect(ts25).toEqual(Array.from({ length: 25 }, (_, i) => 951 - 38 * i));
  });

  it("DPM-Solver++ Karras: integer timesteps, σ from σ_max to σ_min", () => {
    const s = createScheduler("dpmpp_2m_karras", SD, 20) as DpmSolverMultistepScheduler;
    expect(s.timesteps[0]).toBe(999);
    expect(s.timesteps[19]).toBe(0);
    for (const t of s.timesteps) expect(Number.isInteger(t)).toBe(true);
    expect(s.sigmas[0]).toBeCloseTo(14.6146, 3);
    expect(s.sigmas[19]).toBeCloseTo(0.029168, 5);
    expect(s.sigmas[20]).toBe(0);
  });

  it("LCM timesteps", () => {
    expect(list(createScheduler("lcm", {}, 4).timesteps)).toEqual([999, 759, 499, 259]);
    expect(list(createScheduler("lcm", {}, 8).timesteps)).toEqual([999, 879, 759, 639, 499, 379, 259, 139]);
  });
});

/** diffusers' `dummy_sample_deter`: arange(768)/768 (its (4,3,8,8) layout does not matter to elementwise steps). */
const deterSample = () => Float32Array.from({ length: 768 }, (_, i) => i / 768);
/** diffusers' dummy model: x·t/(t+1). */
const dummyModel = (x: Float32Array, t: number) => x.map((v) => (v * t) / (t + 1));
const sumAbs = (x: Float32Array) => x.reduce((a, v) => a + Math.abs(v), 0);

/** The loop of diffusers' no-noise tests; `rescale` reproduces Euler's test, which keeps the scaled input. */
function goldenLoop(
  name: SchedulerName,
  config: SchedulerConfigInput,
  steps: number,
  rescale = false,
): Float32Array {
  const s = createScheduler(name, config, steps);
  let x: Float32Array = deterSample().map((v) => v * s.initNoiseSigma);
  s.timesteps.forEach((t, i) => {
    if (rescale) x = s.scaleModelInput(x, i);
    x = s.step(dummyModel(x, t), i, x);
  });
  return x;
}

function expectGolden(x: Float32Array, sum: number | null, mean: number): void {
  if (sum !== null) expect(Math.abs(sumAbs(x) - sum), `sum ${sumAbs(x)}`).toBeLessThan(1e-2);
  expect(Math.abs(sumAbs(x) / x.length - mean), `mean ${sumAbs(x) / x.length}`).toBeLessThan(1e-3);
}

describe("diffusers golden no-noise loops", () => {
  const ddim = { ...LINEAR, num_train_timesteps: 1000, clip_sample: true };
  it("DDIM", () => {
    expectGolden(goldenLoop("ddim", ddim, 10), 172.0067, 0.223967);
    expectGolden(goldenLoop("ddim", { ...ddim, prediction_type: "v_prediction" }, 10), 52.5302, 0.0684);
    expectGolden(
      goldenLoop("ddim", { ...ddim, beta_start: 0.01, set_alpha_to_one: true }, 10),
      149.8295,
      0.1951,
    );
    expectGolden(
      goldenLoop("ddim", { ...ddim, beta_start: 0.01, set_alpha_to_one: false }, 10),
      149.0784,
      0.1941,
    );
  });

  it("Euler", () => {
    const euler = { ...LINEAR, num_train_timesteps: 1100 };
    expectGolden(goldenLoop("euler", euler, 10, true), 10.0807, 0.0131);
    expectGolden(
      goldenLoop("euler", { ...euler, prediction_type: "v_prediction" }, 10, true),
      0.0002,
      2.2676e-6,
    );
    expectGolden(goldenLoop("euler", { ...euler, use_karras_sigmas: true }, 10, true), 124.52299, 0.16213933);
  });

  it("DPM-Solver++ 2M", () => {
    const dpm = {
      ...LINEAR,
      lower_order_final: false,
      euler_at_final: false,
      final_sigmas_type: "sigma_min",
    };
    expectGolden(goldenLoop("dpmpp_2m", dpm, 10), null, 0.3301);
    expectGolden(goldenLoop("dpmpp_2m", { ...dpm, prediction_type: "v_prediction" }, 10), null, 0.2251);
    expectGolden(
      goldenLoop("dpmpp_2m_karras", { ...dpm, prediction_type: "v_prediction" }, 10),
      null,
      0.2096,
    );
  });

  it("LCM one step", () => {
    const x = goldenLoop("lcm", { ...SD, prediction_type: "epsilon" }, 1);
    expect(Math.abs(sumAbs(x) - 18.7097)).toBeLessThan(1e-3);
    expect(Math.abs(sumAbs(x) / x.length - 0.0244)).toBeLessThan(1e-3);
  });
});

/** Deterministic unit normals (mulberry32 + Box–Muller). */
function normals(seed: number, n: number): Float32Array {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return Float32Array.from(
    { length: n },
    () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()),
  );
}

/**
 * Runs a full sampling loop with an oracle UNet that knows the clean sample x0: from its input (the
 * variance-preserving x = √ᾱ·x0 + √(1−ᾱ)·ε) and the timestep it recovers the exact ε (or v, or x0). Every
 * scheduler must then land on x0: this checks input scaling, timesteps, σ values and the update rules together.
 */
function sampleWithOracle(name: SchedulerName, config: SchedulerConfigInput, steps: number): Float32Array {
  const resolved = resolveSchedulerConfig(name, config);
  const table = sigmaTable(alphasCumprod(resolved));
  const n = 96;
  const x0 = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.9);
  const s = createScheduler(name, config, steps);
  let x: Float32Array = normals(7, n).map((v) => v * s.initNoiseSigma);
  s.timesteps.forEach((t, i) => {
    const input = s.scaleModelInput(x, i);
    // σ at a fractional timestep interpolates the table linearly, as Euler's schedule does.
    const lo = Math.floor(t);
    const sigma = lo >= 999 ? table[999] : table[lo] + (t - lo) * (table[lo + 1] - table[lo]);
    const alpha = 1 / Math.sqrt(sigma * sigma + 1);
    const noiseLevel = sigma * alpha;
    const out = input.map((v, k) => {
      const eps = (v - alpha * x0[k]) / noiseLevel;
      if (resolved.prediction_type === "v_prediction") return alpha * eps - noiseLevel * x0[k];
      return resolved.prediction_type === "sample" ? x0[k] : eps;
    });
    x = s.step(out, i, x, s.needsNoise(i) ? normals(100 + i, n) : undefined);
  });
  return x.map((v, k) => v - x0[k]);
}

describe("every scheduler lands on the clean sample with an exact model", () => {
  const configs: [string, SchedulerConfigInput][] = [
    ["SD (class default spacing)", SD],
    ["SDXL leading, offset 1", SDXL_EULER],
    ["trailing", { ...SD, timestep_spacing: "trailing" }],
  ];
  // The flow scheduler has its own oracle test (flow-match-scheduler.test.ts): it refuses these configs.
  for (const name of SCHEDULER_NAMES.filter((n) => !isFlowScheduler(n))) {
    for (const prediction of ["epsilon", "v_prediction", "sample"]) {
      for (const [label, config] of configs) {
        it(`${name}, ${prediction}, ${label}`, () => {
          const steps = name === "lcm" ? 4 : 25;
          const err = sampleWithOracle(name, { ...config, prediction_type: prediction }, steps);
          const maxErr = err.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          // Karras DPM feeds rounded timesteps, so the oracle's σ is slightly off there.
          expect(maxErr).toBeLessThan(name === "dpmpp_2m_karras" ? 1e-3 : 2e-5);
        });
      }
    }
  }
});

describe("names and defaults", () => {
  it("parses names, aliases and diffusers class names", () => {
    expect(parseSchedulerName("Euler")).toBe("euler");
    expect(parseSchedulerName("DPM++ 2M Karras")).toBe("dpmpp_2m_karras");
    expect(parseSchedulerName("euler-ancestral")).toBe("euler_ancestral");
    expect(parseSchedulerName("euler_a")).toBe("euler_ancestral");
    expect(parseSchedulerName("EulerDiscreteScheduler")).toBe("euler");
    expect(parseSchedulerName("LCMScheduler")).toBe("lcm");
    for (const n of SCHEDULER_NAMES) expect(parseSchedulerName(n.toUpperCase())).toBe(n);
    expectError(() => parseSchedulerName("heun"), "SCHEDULER_UNKNOWN", "ddim, euler, euler_ancestral");
    // Untyped callers: createScheduler normalises or rejects the name too.
    expect(createScheduler("Euler A" as SchedulerName, SD, 4).name).toBe("euler_ancestral");
    expectError(() => createScheduler("plms" as SchedulerName, SD, 4), "SCHEDULER_UNKNOWN", "lcm");
  });

  it("maps a config's _class_name to the default scheduler", () => {
    const of = (c: SchedulerConfigInput) => defaultSchedulerName(c);
    expect(of({ _class_name: "DDIMScheduler" })).toBe("ddim");
    expect(of(SDXL_EULER)).toBe("euler");
    expect(of({ _class_name: "EulerAncestralDiscreteScheduler" })).toBe("euler_ancestral");
    expect(of({ _class_name: "DPMSolverMultistepScheduler" })).toBe("dpmpp_2m");
    expect(of({ _class_name: "DPMSolverMultistepScheduler", use_karras_sigmas: true })).toBe(
      "dpmpp_2m_karras",
    );
    expect(of({ _class_name: "LCMScheduler" })).toBe("lcm");
    expect(of(SD15_PNDM)).toBe("euler");
    expect(of({})).toBe("euler");
  });

  it("uses the file's fields over the requested class's defaults, and overrides over both", () => {
    const r = resolveSchedulerConfig("ddim", SD15_PNDM);
    expect([r.clip_sample, r.set_alpha_to_one, r.steps_offset, r.timestep_spacing]).toEqual([
      false,
      false,
      1,
      "leading",
    ]);
    expect(resolveSchedulerConfig("euler", SD15_PNDM).timestep_spacing).toBe("linspace");
    expect(
      resolveSchedulerConfig("euler", { ...SD15_PNDM, timestep_spacing: "leading" }).timestep_spacing,
    ).toBe("leading");
    expect(resolveSchedulerConfig("lcm", {}).beta_schedule).toBe("scaled_linear");
    expect(list(createScheduler("euler", SD15_PNDM, 4, { timestep_spacing: "trailing" }).timesteps)).toEqual([
      999, 749, 499, 249,
    ]);
  });
});

describe("errors", () => {
  it("rejects bad config fields, naming the field", () => {
    const bad: [SchedulerConfigInput, string][] = [
      [{ beta_schedule: "cosine" }, "beta_schedule"],
      [{ num_train_timesteps: "1000" }, "num_train_timesteps"],
      [{ num_train_timesteps: 10.5 }, "num_train_timesteps"],
      [{ beta_start: -1 }, "beta_start"],
      [{ beta_end: Number.NaN }, "beta_end"],
      [{ timestep_spacing: "even" }, "timestep_spacing"],
      [{ prediction_type: "flow" }, "prediction_type"],
      [{ steps_offset: -1 }, "steps_offset"],
      [{ trained_betas: [0.1, 0.2] }, "trained_betas"],
      [{ clip_sample: "yes" }, "clip_sample"],
      [{ thresholding: true }, "thresholding"],
    ];
    for (const [config, field] of bad)
      expectError(() => createScheduler("ddim", config, 10), "SCHEDULER_CONFIG_INVALID", field);
    expectError(
      () => createScheduler("euler", { use_exponential_sigmas: true }, 10),
      "SCHEDULER_CONFIG_INVALID",
      "use_exponential_sigmas",
    );
    expectError(
      () => createScheduler("lcm", { original_inference_steps: 0 }, 1),
      "SCHEDULER_CONFIG_INVALID",
      "original_inference_steps",
    );
  });

  it("rejects bad step counts and calls", () => {
    for (const steps of [0, -1, 2.5, 1001, Number.NaN])
      expectError(() => createScheduler("euler", SD, steps), "INVALID_ARGUMENT", "steps");
    expectError(() => createScheduler("lcm", SD, 51), "INVALID_ARGUMENT", "original_inference_steps");
    expectError(() => createScheduler("ddim", SD15_PNDM, 1000), "INVALID_ARGUMENT", "steps_offset");
    const x = new Float32Array(8);
    const ea = createScheduler("euler_ancestral", SD, 5);
    expect(ea.needsNoise(0)).toBe(true);
    expect(ea.needsNoise(4)).toBe(false);
    expectError(() => ea.step(x, 0, x), "INVALID_ARGUMENT", "noise");
    expectError(() => ea.step(new Float32Array(4), 4, x), "INVALID_ARGUMENT", "length");
    expectError(() => ea.step(x, 5, x), "INVALID_ARGUMENT", "step index");
    const dpm = createScheduler("dpmpp_2m", SD, 5);
    expectError(() => dpm.step(x, 1, x), "INVALID_ARGUMENT", "in order");
    expect(createScheduler("ddim", SD, 5).scaleModelInput(x, 0)).toBe(x);
  });
});

describe("the sampling loop's reused buffers", () => {
  // The pipeline scales into a buffer of its own and steps its latents in place; every scheduler must give
  // the same numbers that way as with fresh arrays, bit for bit.
  for (const name of SCHEDULER_NAMES.filter((n) => !isFlowScheduler(n))) {
    it(`${name}: scaleModelInput into a buffer and step into the sample itself`, () => {
      const steps = name === "lcm" ? 4 : 8;
      const fresh = createScheduler(name, SD, steps);
      const reused = createScheduler(name, SD, steps);
      const n = 64;
      let a: Float32Array = normals(3, n).map((v) => v * fresh.initNoiseSigma);
      const b = Float32Array.from(a);
      const scaled = new Float32Array(n);
      for (let i = 0; i < fresh.timesteps.length; i++) {
        const inA = fresh.scaleModelInput(a, i);
        const inB = reused.scaleModelInput(b, i, scaled);
        expect(Array.from(inB)).toEqual(Array.from(inA));
        // A stand-in model whose output depends on its input and the step.
        const outA = inA.map((v, k) => 0.3 * v + Math.sin(k + i));
        const outB = inB.map((v, k) => 0.3 * v + Math.sin(k + i));
        const noise = fresh.needsNoise(i) ? normals(50 + i, n) : undefined;
        a = fresh.step(outA, i, a, noise);
        const next = reused.step(outB, i, b, noise, b);
        if (next !== b) b.set(next);
        expect(Array.from(b)).toEqual(Array.from(a));
      }
    });
  }
});
