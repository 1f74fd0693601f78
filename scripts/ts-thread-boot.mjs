// Runs a TypeScript worker-thread module from the sources (tests only; built code runs the .js directly).
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
