/**
 * Test hosts as Linux network namespaces: one for nats-server, one per worker, each worker joined to the
 * NATS host by its own veth pair (a /30 in 10.231.0.0/16), and the NATS host joined to this (the root)
 * namespace by one more pair, for the coordinator. Traffic only ever goes between these test hosts.
 * Needs root and iproute2's `ip`; `removeAll` deletes every namespace and link made here (deleting a
 * namespace deletes its veth ends, and the peers with them).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const IP_CANDIDATES = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];

/** Why network namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces are Linux only";
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return "making network namespaces needs root";
  }
  const ip = ipBinary();
  if (!ip) return "iproute2's `ip` is not installed";
  const probe = `lfprobe${process.pid}`;
  const add = spawnSync(ip, ["netns", "add", probe], { encoding: "utf8" });
  if (add.status !== 0) return `\`ip netns add\` fails here: ${add.stderr.trim()}`;
  spawnSync(ip, ["netns", "del", probe]);
  return undefined;
}

function ipBinary(): string | undefined {
  return IP_CANDIDATES.find((p) => existsSync(p));
}

function ip(args: string[]): void {
  const bin = ipBinary();
  if (!bin) throw new Error("no ip binary");
  execFileSync(bin, args, { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
}

export interface TestHost {
  /** Namespace name. */
  readonly ns: string;
  /** This host's address on its link to the NATS host. */
  readonly address: string;
  /** The NATS host's address on that link (the URL to use from here). */
  readonly natsAddress: string;
  /** The interface on this host's side of the link. */
  readonly iface: string;
  /** `ip netns exec <ns>`: prefix of a command to run on this host. */
  readonly exec: string[];
}

export class TestNetwork {
  readonly natsNs: string;
  /** Address of the NATS host as seen from the root namespace (the coordinator's side). */
  readonly natsFromRoot: string;
  private readonly namespaces: string[] = [];
  private readonly rootLinks: string[] = [];
  private readonly workers: TestHost[] = [];

  private constructor(
    private readonly prefix: string,
    hostOctet: number,
  ) {
    this.natsNs = `${prefix}-nats`;
    this.natsFromRoot = `10.231.${hostOctet}.2`;
  }

  /**
   * Makes the NATS host and its link to the root namespace. The root-side subnet's third octet comes from
   * the pid, so two suites on one machine do not claim the same route.
   */
  static create(): TestNetwork {
    const prefix = `lfc${process.pid % 100_000}`;
    const hostOctet = 100 + (process.pid % 100);
    const net = new TestNetwork(prefix, hostOctet);
    try {
      net.addNamespace(net.natsNs);
      const rootSide = `${prefix}r`;
      const natsSide = `${prefix}n`;
      ip(["link", "add", rootSide, "type", "veth", "peer", "name", natsSide]);
      net.rootLinks.push(rootSide);
      ip(["link", "set", natsSide, "netns", net.natsNs]);
      ip(["addr", "add", `10.231.${hostOctet}.1/30`, "dev", rootSide]);
      ip(["-n", net.natsNs, "addr", "add", `10.231.${hostOctet}.2/30`, "dev", natsSide]);
      ip(["link", "set", rootSide, "up"]);
      ip(["-n", net.natsNs, "link", "set", natsSide, "up"]);
    } catch (err) {
      net.removeAll();
      throw err;
    }
    return net;
  }

  /** A worker host `k` (1..99) with its own link to the NATS host. */
  addWorkerHost(k: number): TestHost {
    const ns = `${this.prefix}-w${k}`;
    const iface = `${this.prefix}w${k}`;
    const natsSide = `${this.prefix}x${k}`;
    this.addNamespace(ns);
    ip(["link", "add", iface, "type", "veth", "peer", "name", natsSide]);
    ip(["link", "set", iface, "netns", ns]);
    ip(["link", "set", natsSide, "netns", this.natsNs]);
    ip(["-n", ns, "addr", "add", `10.231.${k}.2/30`, "dev", iface]);
    ip(["-n", this.natsNs, "addr", "add", `10.231.${k}.1/30`, "dev", natsSide]);
    ip(["-n", ns, "link", "set", iface, "up"]);
    ip(["-n", this.natsNs, "link", "set", natsSide, "up"]);
    const bin = ipBinary() ?? "ip";
    const host: TestHost = {
      ns,
      address: `10.231.${k}.2`,
      natsAddress: `10.231.${k}.1`,
      iface,
      exec: [bin, "netns", "exec", ns],
    };
    this.workers.push(host);
    return host;
  }

  /** `ip netns exec <nats ns>` */
  get natsExec(): string[] {
    return [ipBinary() ?? "ip", "netns", "exec", this.natsNs];
  }

  /** Takes the host's link down (nothing passes, nothing is reset: TCP just waits) or up again. */
  setLink(host: TestHost, up: boolean): void {
    ip(["-n", host.ns, "link", "set", host.iface, up ? "up" : "down"]);
  }

  /** Deletes every namespace and root-side link made here; safe to call more than once. */
  removeAll(): void {
    const bin = ipBinary();
    if (!bin) return;
    for (const link of this.rootLinks.splice(0)) spawnSync(bin, ["link", "del", link]);
    for (const ns of this.namespaces.splice(0).reverse()) spawnSync(bin, ["netns", "del", ns]);
  }

  private addNamespace(ns: string): void {
    addNamespace(ns, this.namespaces);
  }
}

/** A host on a TestLan: its namespace, its one interface and address. */
export interface LanHost {
  readonly name: string;
  readonly ns: string;
  readonly address: string;
  readonly iface: string;
  /** `ip netns exec <ns>`: prefix of a command to run on this host. */
  readonly exec: string[];
}

/**
 * Test hosts on one switch: a bridge in the root namespace (which has an address on it, so this process
 * reaches every host) and a namespace per host joined to it by a veth pair, each with an address in a /24
 * of 10.232.0.0/16 (third octet from the pid, so two suites on one machine do not claim the same subnet).
 * Any host reaches any other; `setLink(host, false)` cuts one host off from all of them at once (its
 * interface down: nothing passes, nothing is reset). For the NATS cluster tests (test/helpers/nats-cluster.ts).
 */
export class TestLan {
  /** The root namespace's address on the bridge. */
  readonly rootAddress: string;
  private readonly bridge: string;
  private readonly subnet: string;
  private readonly namespaces: string[] = [];
  private readonly rootLinks: string[] = [];
  private readonly hosts = new Map<string, LanHost>();

  private constructor(private readonly prefix: string) {
    this.subnet = `10.232.${process.pid % 250}`;
    this.bridge = `${prefix}br`;
    this.rootAddress = `${this.subnet}.1`;
  }

  static create(): TestLan {
    const lan = new TestLan(`lfl${process.pid % 100_000}`);
    try {
      spawnSync(ipBinary() ?? "ip", ["link", "del", lan.bridge]);
      ip(["link", "add", lan.bridge, "type", "bridge"]);
      lan.rootLinks.push(lan.bridge);
      ip(["addr", "add", `${lan.rootAddress}/24`, "dev", lan.bridge]);
      ip(["link", "set", lan.bridge, "up"]);
    } catch (err) {
      lan.removeAll();
      throw err;
    }
    return lan;
  }

  /** Host `name` (a short word: it goes into interface names) with address <subnet>.`k` (2..254). */
  addHost(name: string, k: number): LanHost {
    const ns = `${this.prefix}-${name}`;
    const iface = `${this.prefix}${name}`;
    const bridgeSide = `${this.prefix}${name}p`;
    addNamespace(ns, this.namespaces);
    spawnSync(ipBinary() ?? "ip", ["link", "del", bridgeSide]);
    ip(["link", "add", iface, "type", "veth", "peer", "name", bridgeSide]);
    this.rootLinks.push(bridgeSide);
    ip(["link", "set", iface, "netns", ns]);
    ip(["link", "set", bridgeSide, "master", this.bridge]);
    ip(["link", "set", bridgeSide, "up"]);
    const address = `${this.subnet}.${k}`;
    ip(["-n", ns, "addr", "add", `${address}/24`, "dev", iface]);
    ip(["-n", ns, "link", "set", iface, "up"]);
    const host: LanHost = { name, ns, address, iface, exec: [ipBinary() ?? "ip", "netns", "exec", ns] };
    this.hosts.set(name, host);
    return host;
  }

  host(name: string): LanHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** Cuts the host off from every other (interface down), or joins it again. */
  setLink(host: LanHost, up: boolean): void {
    ip(["-n", host.ns, "link", "set", host.iface, up ? "up" : "down"]);
  }

  /**
   * Aborts the TCP connections from `host` (undefined: this, the root namespace) to `address`:`port`, as
   * a client does on its own when its pings go unanswered (which takes up to a minute by default).
   */
  resetConnections(host: LanHost | undefined, address: string, port: number): void {
    const ss = ["ss", "-K", "dst", address, "dport", "=", String(port)];
    const [command, ...args] = host ? [...host.exec, ...ss] : ss;
    spawnSync(command, args, { stdio: "ignore", timeout: 10_000 });
  }

  /** Deletes every namespace and root-side link made here; safe to call more than once. */
  removeAll(): void {
    const bin = ipBinary();
    if (!bin) return;
    for (const link of this.rootLinks.splice(0).reverse()) spawnSync(bin, ["link", "del", link]);
    for (const ns of this.namespaces.splice(0).reverse()) spawnSync(bin, ["netns", "del", ns]);
  }
}

function addNamespace(ns: string, made: string[]): void {
  // A namespace left by a killed earlier run of the same pid number would make `add` fail.
  spawnSync(ipBinary() ?? "ip", ["netns", "del", ns]);
  ip(["netns", "add", ns]);
  made.push(ns);
  ip(["-n", ns, "link", "set", "lo", "up"]);
}
