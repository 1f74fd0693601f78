/**
 * One TLS handshake, made only to say why a connection failed: the gRPC and NATS clients report a refused
 * client certificate as a plain timeout (with TLS 1.3 the server refuses it after the handshake, when the
 * client no longer listens for it).
 */
import type { Socket } from "node:net";
import { isIP } from "node:net";
import { connect as connectTls } from "node:tls";

export type TlsProbeResult =
  /** The handshake went through and the server kept the connection. */
  | { kind: "accepted" }
  /** The server refused the client's certificate (or the lack of one). */
  | { kind: "client-refused"; reason: string }
  /** The server's certificate does not chain to the CA given. */
  | { kind: "untrusted"; reason: string }
  /** Another TLS failure (e.g. the server does not speak TLS). */
  | { kind: "failed"; reason: string }
  /** Nothing answered, or no answer in time. */
  | { kind: "unknown" };

export interface TlsProbeOptions {
  host: string;
  port: number;
  /** An open connection to upgrade (NATS starts in plaintext); a new one to host:port otherwise. */
  socket?: Socket;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server's certificate (default true). */
  verify?: boolean;
  alpn?: string[];
  timeoutMs?: number;
}

export function probeTls(o: TlsProbeOptions): Promise<TlsProbeResult> {
  return new Promise((resolve) => {
    const socket = connectTls({
      ...(o.socket ? { socket: o.socket } : { host: o.host, port: o.port }),
      rejectUnauthorized: o.verify ?? true,
      ...(isIP(o.host) ? {} : { servername: o.host }),
      ...(o.alpn ? { ALPNProtocols: o.alpn } : {}),
      ...(o.ca === undefined ? {} : { ca: o.ca }),
      ...(o.cert === undefined ? {} : { cert: o.cert }),
      ...(o.key === undefined ? {} : { key: o.key }),
    });
    let settled = false;
    const finish = (result: TlsProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      o.socket?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: "unknown" }), o.timeoutMs ?? 3_000);
    socket.on("data", () => undefined);
    socket.once("secureConnect", () => {
      // A server that refuses the client does it now (an alert, or it hangs up); give it a moment.
      setTimeout(() => finish({ kind: "accepted" }), 500);
      socket.once("close", () =>
        finish({ kind: "client-refused", reason: "the server hung up after the handshake" }),
      );
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNREFUSED" || err.code === "EHOSTUNREACH" || err.code === "ETIMEDOUT") {
        finish({ kind: "unknown" });
        return;
      }
      const reason = tlsErrorReason(err);
      if (/alert (certificate required|bad certificate|unknown ca|certificate unknown)/.test(reason)) {
        finish({ kind: "client-refused", reason });
      } else if (/certificate|verify|altname|self.signed/i.test(reason)) {
        finish({ kind: "untrusted", reason });
      } else {
        finish({ kind: "failed", reason });
      }
    });
  });
}

/** OpenSSL's messages carry codes and a source location; the reason is the part after the function name. */
export function tlsErrorReason(err: Error): string {
  return /SSL routines:[^:]*:([^:]+)/.exec(err.message)?.[1] ?? err.message;
}
