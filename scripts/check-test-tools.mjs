// What `npm test` needs besides Node and node_modules (run before it as `pretest`): the programs the tests
// start or call, root, and Python 3. Anything missing is named in one line with the apt command
// that installs it, and the exit code is 1, rather than tests failing one by one for want of a program.
//
//   node scripts/check-test-tools.mjs             check; one line and exit 1 when something is missing
//   node scripts/check-test-tools.mjs --packages  print the Debian packages of what is missing (.ci/run
//                                                 installs them), exit 0
// Plain Node, no dependency: it runs before `npm ci` in .ci/run.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Folders searched after PATH: Debian keeps nats-server and ip in sbin, outside a user's PATH. */
const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name) {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...SBIN];
  return dirs.some((dir) => executable(join(dir, name)));
}

function runs(command, args, expect) {
  const r = spawnSync(command, args, { encoding: "utf8", timeout: 20_000 });
  return r.status === 0 && (expect === undefined || expect.test(`${r.stdout}${r.stderr}`));
}

/**
 * Each need: what the tests use it for, how to tell it is there, and the Debian package that brings it
 * (undefined: not in Debian's archive; `how` says what to do instead).
 */
const NEEDS = [
  {
    name: "nats-server",
    why: "every integration test",
    present: () =>
      (process.env.LF_NATS_SERVER_BIN !== undefined && executable(process.env.LF_NATS_SERVER_BIN)) ||
      onPath("nats-server"),
    apt: "nats-server",
  },
  {
    name: "prometheus",
    why: "the dashboard test scrapes a real run",
    present: () => onPath("prometheus"),
    apt: "prometheus",
  },
  {
    name: "promtool",
    why: "the alert rules are checked",
    present: () => onPath("promtool"),
    apt: "prometheus",
  },
  {
    name: "kubectl",
    why: "its kustomize renders deploy/k8s",
    present: () => onPath("kubectl"),
    how: "kubectl from the Kubernetes apt repository (https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/)",
  },
  {
    name: "ip",
    why: "the chaos tests make network namespaces",
    present: () => onPath("ip"),
    apt: "iproute2",
  },
  { name: "openssl", why: "the TLS tests' certificates", present: () => onPath("openssl"), apt: "openssl" },
  {
    name: "GNU tar",
    why: "the webdataset tests read tars",
    present: () => runs("tar", ["--version"], /GNU tar/),
    apt: "tar",
  },
  {
    name: "chromium",
    why: "the browser test",
    present: () => onPath("chromium") || executable("/usr/bin/chromium"),
    apt: "chromium",
  },
  {
    // Its standard library only: the model fixtures' torch references are committed, so torch is needed
    // to regenerate them (scripts/make-model-fixtures.py), not to test.
    name: "python3",
    why: "an external reader of the webdataset tars (Python's tarfile)",
    present: () => runs("/usr/bin/python3", ["-c", "import tarfile, json"]),
    apt: "python3",
  },
  {
    name: "root",
    why: "the chaos tests mount a tmpfs and make network namespaces",
    present: () => process.getuid?.() === 0,
    how: "run the tests as root (sudo npm test)",
  },
];

const missing = NEEDS.filter((need) => !need.present());
const packages = [...new Set(missing.flatMap((need) => (need.apt ? need.apt.split(" ") : [])))];

if (process.argv.includes("--packages")) {
  if (packages.length > 0) process.stdout.write(`${packages.join(" ")}\n`);
  process.exit(0);
}
if (missing.length > 0) {
  const fixes = [];
  if (packages.length > 0) fixes.push(`apt-get install -y ${packages.join(" ")}`);
  for (const need of missing) if (need.how) fixes.push(need.how);
  const names = missing.map((need) => need.name).join(", ");
  process.stderr.write(`npm test: missing ${names}; to fix: ${fixes.join("; ")}\n`);
  process.exit(1);
}
