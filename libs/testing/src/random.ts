/**
 * A seeded pseudo-random source for tests that drive pure logic through many random steps and
 * must replay the same steps on every run: rand(n) is a whole number in [0, n).
 */
export function seededRandom(seed: number): (n: number) => number {
  let s = seed | 0;
  return (n: number) => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) | 0;
    return ((s ^ (s >>> 13)) >>> 0) % n;
  };
}
