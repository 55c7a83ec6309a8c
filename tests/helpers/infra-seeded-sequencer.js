const Sequencer = require('@jest/test-sequencer').default;

/**
 * A jest testSequencer that shuffles test FILES with jest's --seed (jest's --randomize only shuffles
 * the tests within a file). The same seed gives the same order, so a failing order can be replayed:
 * `npx jest --runInBand --randomize --seed=N --testSequencer=./tests/helpers/infra-seeded-sequencer.js`.
 * Used by `npm run test:isolation` only. Plain JavaScript: jest loads a sequencer with Node's own
 * require, without its transform.
 */
class SeededFileShuffle extends Sequencer {
  /** @param {{ globalConfig: { seed: number } }} options jest's ({ contexts, globalConfig }) */
  constructor(options) {
    super(options);
    this.seed = options.globalConfig.seed;
  }

  /** @param {Array<{ path: string }>} tests */
  sort(tests) {
    // From a fixed order (by path), so the result depends on the seed alone, not on jest's timings cache.
    const shuffled = [...tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const random = mulberry32(this.seed);
    for (let i = shuffled.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    return shuffled;
  }
}

/** A small seeded PRNG (mulberry32): uniform in [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = SeededFileShuffle;
