// A run's metric series: seeded from GET /metrics, grown by the live stream's `metric`
// events. A live point has no wall time (the stream carries none), so while points keep
// arriving the stored rows from the last timed step on are re-read, at most every
// REREAD_MS; `reload()` re-reads everything (the run page calls it when the run ends).
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import type { MetricEvent, MetricPoint } from '../api/types';
import { mergeMetrics, type MetricSeries } from './metricMath';

const REREAD_MS = 2000;

export interface RunMetrics {
  series: MetricSeries;
  onMetric: (event: MetricEvent) => void;
  reload: () => void;
}

function lastTimedStep(series: MetricSeries): number {
  let step = -1;
  for (const points of Object.values(series))
    for (const p of points) if (p.wall_s !== null && p.wall_s !== undefined && p.step > step) step = p.step;
  return step;
}

export function useRunMetrics(runId: string): RunMetrics {
  const [series, setSeries] = useState<MetricSeries>({});
  const seriesRef = useRef(series);
  seriesRef.current = series;
  const timer = useRef<number | null>(null);
  const controller = useRef<AbortController | null>(null);
  const base = `/api/tunix/runs/${encodeURIComponent(runId)}/metrics`;

  const read = useCallback(
    (afterStep: number | null) => {
      controller.current?.abort();
      const c = new AbortController();
      controller.current = c;
      api
        .get<{ data: MetricPoint[] }>(base, afterStep === null ? undefined : { after_step: afterStep }, c.signal)
        .then((res) => {
          if (!c.signal.aborted) setSeries((live) => mergeMetrics(live, res.data));
        })
        .catch(() => undefined); // the charts keep what they have; the run request shows API errors
    },
    [base],
  );

  useEffect(() => {
    setSeries({});
    read(null);
    return () => {
      controller.current?.abort();
      if (timer.current !== null) window.clearTimeout(timer.current);
      timer.current = null;
    };
  }, [read]);

  const onMetric = useCallback(
    (event: MetricEvent) => {
      const points = Object.entries(event.values ?? {})
        .filter(([, v]) => typeof v === 'number')
        .map(([name, value]) => ({ name, step: event.step, value }));
      setSeries((prev) => mergeMetrics(prev, points));
      if (timer.current === null) {
        timer.current = window.setTimeout(() => {
          timer.current = null;
          // From the last step that already has a wall time: a late value at that step
          // (an evaluation reported after the step's loss) is picked up too.
          read(Math.max(lastTimedStep(seriesRef.current) - 1, -1));
        }, REREAD_MS);
      }
    },
    [read],
  );

  const reload = useCallback(() => read(null), [read]);
  return { series, onMetric, reload };
}
