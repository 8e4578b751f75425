/**
 * Exponential moving average with TensorBoard's debiasing, so the first points are not pulled
 * towards zero. weight 0 returns the raw values; nulls (diverged steps) stay null.
 */
export function smooth(values: (number | null)[], weight: number): (number | null)[] {
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (v == null || !Number.isFinite(v)) return null;
    last = last * weight + (1 - weight) * v;
    n += 1;
    const debias = 1 - Math.pow(weight, n);
    return debias > 0 ? last / debias : v;
  });
}
