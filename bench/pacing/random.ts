// Random draws of the pacing benchmark's app models: lognormal service times, and a seeded stream for
// runs that must repeat exactly (the simulator's SEED, the pacer's unit tests).

/** A small seeded PRNG (mulberry32): the same seed gives the same stream on every run. */
export function seeded(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Lognormal sample with the given mean and coefficient of variation (Box–Muller over `random`). */
export function lognormal(mean: number, cv: number, random: () => number = Math.random): number {
  const sigma2 = Math.log(1 + cv * cv);
  const mu = Math.log(mean) - sigma2 / 2;
  const u = 1 - random();
  const v = random();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.exp(mu + Math.sqrt(sigma2) * z);
}
