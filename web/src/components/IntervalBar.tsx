import { formatPercent } from '../lib/format';

/** A proportion with its 95 % interval drawn on a 0..100 % track: the band is low..high, the tick the value. */
export function IntervalBar({
  value,
  low,
  high,
}: {
  value: number | null | undefined;
  low: number | null | undefined;
  high: number | null | undefined;
}) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  const hasInterval = low !== null && low !== undefined && high !== null && high !== undefined;
  const pct = (x: number) => `${Math.min(100, Math.max(0, x * 100)).toFixed(2)}%`;
  const label = hasInterval
    ? `${formatPercent(value)} (95% CI ${formatPercent(low)} – ${formatPercent(high)})`
    : formatPercent(value);
  return (
    <span className="interval" data-testid="interval" title={label}>
      <span className="interval-value">{formatPercent(value)}</span>
      {hasInterval && (
        <>
          <span className="interval-track" aria-hidden="true">
            <span className="interval-band" style={{ left: pct(low), width: `calc(${pct(high)} - ${pct(low)})` }} />
            <span className="interval-tick" style={{ left: pct(value) }} />
          </span>
          <span className="interval-range muted" data-testid="interval-range">
            {formatPercent(low)}–{formatPercent(high)}
          </span>
        </>
      )}
    </span>
  );
}
