// (being written) Opcode implementations of this area; see jobs/ops/index.ts.
export {};
