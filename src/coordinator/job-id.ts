/**
 * Job ids: `YYYYMMDD-HHMMSS-mmm-xxxxxxxx` (UTC time of submission, then 8 random base-36 characters).
 * They sort by submission time, are safe as file names, NATS subject tokens and KV keys (letters, digits
 * and '-'), and are unique: JetStream de-duplicates task msg ids (`<job>.<shard>`) across the whole
 * stream, so a job id must never be reused.
 */
import { randomInt } from "node:crypto";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
const RANDOM_CHARS = 8;
const JOB_ID_PATTERN = /^\d{8}-\d{6}-\d{3}-[0-9a-z]{8}$/;

export function newJobId(now: Date = new Date()): string {
  const iso = now.toISOString(); // 2026-11-25T22:07:06.123Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}-${iso.slice(20, 23)}`;
  let suffix = "";
  for (let i = 0; i < RANDOM_CHARS; i++) suffix += ALPHABET[randomInt(ALPHABET.length)];
  return `${stamp}-${suffix}`;
}

/** True for ids newJobId makes (clients may check before asking the coordinator). */
export function isJobId(text: string): boolean {
  return JOB_ID_PATTERN.test(text);
}
