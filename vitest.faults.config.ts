import { defineConfig } from "vitest/config"

/** The fault suite (test/faults): crashes, outages and hostile input through whole processes; bounded in time. */
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: "forks",
    // the suites start real servers and several rebound processes each: one file at a time on a 2-core machine
    fileParallelism: false
  }
})
