#!/usr/bin/env -S deno run -A
/**
 * Regenerates `fresh.gen.ts` and builds island bundles, then starts
 * `main.ts`. `deno run -A dev.ts build` only builds.
 * @module
 */
import { dev } from "$fresh/dev.ts";

await dev(import.meta.url, Deno.args[0]);
