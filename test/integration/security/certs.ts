/**
 * Test certificates made with openssl: a CA, a server certificate for 127.0.0.1/localhost, a client
 * certificate, and a client certificate from another CA (which a server trusting only the first refuses).
 * EC P-256 keys: quick to make.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA the servers do not trust, and a client certificate it signed. */
  otherCaCert: string;
  otherClientCert: string;
  otherClientKey: string;
  cleanup(): void;
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "lf-pki-"));
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe", timeout: 30_000 });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const ca = (name: string, cn: string) => {
    openssl(
      ...["req", "-x509", ...key, "-keyout", f(`${name}.key`), "-out", f(`${name}.crt`)],
      ...["-days", "2", "-subj", `/CN=${cn}`],
      ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    );
  };
  const leaf = (name: string, caName: string, cn: string, ext: string) => {
    openssl(
      "req",
      "-new",
      ...key,
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.csr`),
      "-subj",
      `/CN=${cn}`,
    );
    writeFileSync(f(`${name}.ext`), `basicConstraints=CA:FALSE\n${ext}\n`);
    openssl(
      ...["x509", "-req", "-in", f(`${name}.csr`), "-CA", f(`${caName}.crt`), "-CAkey", f(`${caName}.key`)],
      ...["-CAcreateserial", "-out", f(`${name}.crt`), "-days", "2", "-extfile", f(`${name}.ext`)],
    );
  };
  ca("ca", "Latent Fleet test CA");
  ca("other-ca", "Some other CA");
  leaf(
    "server",
    "ca",
    "localhost",
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature",
  );
  const clientExt = "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature";
  leaf("client", "ca", "latent-fleet-client", clientExt);
  leaf("other-client", "other-ca", "latent-fleet-client", clientExt);
  return {
    dir,
    caCert: f("ca.crt"),
    serverCert: f("server.crt"),
    serverKey: f("server.key"),
    clientCert: f("client.crt"),
    clientKey: f("client.key"),
    otherCaCert: f("other-ca.crt"),
    otherClientCert: f("other-client.crt"),
    otherClientKey: f("other-client.key"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
