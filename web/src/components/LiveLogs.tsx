// The Live logs tab: streams lines, follows the tail unless the user scrolled up.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { LogLine, MetricEvent } from '../api/types';
import { DEFAULT_SNAPSHOT_TAIL, LogStream, type StreamState } from '../lib/logStream';

export const MAX_VISIBLE_LINES = 20000;
const FOLLOW_SLACK_PX = 24;

export interface LiveLogsProps {
  runId: string;
  hidden?: boolean;
  /** Lines fetched from /logs/snapshot for first paint; 0 streams everything over SSE. */
  snapshotTail?: number;
  onMetric?: (metric: MetricEvent) => void;
  onStatus?: (status: { status: string; attempt?: number; reason?: string | null }) => void;
  onEnd?: (status: string) => void;
}

const STATE_LABEL: Record<StreamState, string> = {
  connecting: 'connecting…',
  open: 'live',
  reconnecting: 'reconnecting…',
  ended: 'stream ended',
  closed: 'disconnected',
};

export function LiveLogs({
  runId,
  hidden,
  snapshotTail = DEFAULT_SNAPSHOT_TAIL,
  onMetric,
  onStatus,
  onEnd,
}: LiveLogsProps) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [state, setState] = useState<StreamState>('connecting');
  const [dropped, setDropped] = useState(0);
  const [hiddenBefore, setHiddenBefore] = useState(0);
  const [follow, setFollow] = useState(true);
  const streamRef = useRef<LogStream | null>(null);
  const boxRef = useRef<HTMLPreElement>(null);
  const callbacks = useRef({ onMetric, onStatus, onEnd });
  callbacks.current = { onMetric, onStatus, onEnd };

  useEffect(() => {
    setLines([]);
    setDropped(0);
    setHiddenBefore(0);
    const stream = new LogStream(runId, {
      onLines: (batch) => {
        setHiddenBefore(stream.hiddenBefore);
        setLines((prev) => {
          const next = prev.concat(batch);
          return next.length > MAX_VISIBLE_LINES ? next.slice(next.length - MAX_VISIBLE_LINES) : next;
        });
      },
      onState: setState,
      onMetric: (m) => callbacks.current.onMetric?.(m),
      onStatus: (s) => callbacks.current.onStatus?.(s),
      onTruncated: (info) => setDropped((d) => d + info.dropped),
      onEnd: (status) => callbacks.current.onEnd?.(status),
    });
    streamRef.current = stream;
    stream.start(snapshotTail);
    return () => stream.close();
  }, [runId, snapshotTail]);

  // Follow the tail: after new lines render, stay at the bottom unless the user scrolled up.
  useLayoutEffect(() => {
    const box = boxRef.current;
    if (box && follow && !hidden) box.scrollTop = box.scrollHeight;
  }, [lines, follow, hidden]);

  const onScroll = useCallback(() => {
    const box = boxRef.current;
    if (!box) return;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight <= FOLLOW_SLACK_PX;
    setFollow(atBottom);
  }, []);

  const reconnect = useCallback(() => streamRef.current?.reconnect(), []);

  return (
    <section className="logs" hidden={hidden} data-testid="live-logs">
      <div className="row between">
        <span className={`stream-state stream-${state}`} data-testid="stream-state" data-state={state}>
          {STATE_LABEL[state]} · {lines.length} lines
          {dropped > 0 && ` · ${dropped} lines dropped by the log cap`}
        </span>
        <div className="row">
          {!follow && (
            <button
              type="button"
              className="btn btn-small"
              onClick={() => setFollow(true)}
              data-testid="follow-tail"
            >
              ↓ Follow tail
            </button>
          )}
          <button type="button" className="btn btn-small" onClick={reconnect} data-testid="reconnect-logs">
            Reconnect
          </button>
        </div>
      </div>
      <pre
        ref={boxRef}
        className="log-box"
        onScroll={onScroll}
        tabIndex={0}
        aria-label="run log"
        data-testid="log-lines"
      >
        {hiddenBefore > 0 && (
          <div className="muted" data-testid="log-hidden-before">
            … {hiddenBefore} earlier lines: download logs/output.log from Artifacts for the full log
          </div>
        )}
        {lines.length === 0 && <span className="muted">No log lines yet.</span>}
        {lines.map((line) => (
          <div key={line.seq} className={`log-line log-${line.stream}`} data-seq={line.seq} data-stream={line.stream}>
            {line.text}
          </div>
        ))}
      </pre>
    </section>
  );
}
