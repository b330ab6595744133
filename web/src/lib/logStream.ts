// Live run logs over SSE with exact resume.
//
// Invariant: every line is shown once, in seq order of arrival, with none lost across
// reconnects. The server sends lines with seq > since_seq, so each (re)connect opens a
// NEW EventSource with ?since_seq=<highest seq seen>; lines are also de-duplicated by seq,
// because a line can arrive twice when a reconnect races the old stream's last flush.
// We close the EventSource on error and reconnect ourselves (instead of the browser's
// automatic retry) so the resume point is always the one we hold, and we stop for good
// on the `end` event, which the server sends after the last line of a finished run.
// First paint comes from GET .../logs/snapshot?tail=N (one request instead of replaying a
// long log line by line); the stream then resumes with since_seq=<snapshot last_seq>.
import { api } from '../api/client';
import { withToken } from '../api/token';
import type { LogLine, MetricEvent } from '../api/types';

export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'ended' | 'closed';

export interface LogStreamHandlers {
  onLines: (lines: LogLine[]) => void;
  onState?: (state: StreamState) => void;
  onMetric?: (metric: MetricEvent) => void;
  onStatus?: (status: { status: string; attempt?: number; reason?: string | null }) => void;
  onTruncated?: (info: { dropped: number; resume_seq: number }) => void;
  onEnd?: (status: string) => void;
}

export const DEFAULT_SNAPSHOT_TAIL = 5000;

interface LogSnapshot {
  lines: LogLine[];
  last_seq: number | null;
  dropped_lines?: number;
  status?: string;
}

export const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
const FLUSH_MS = 50;

function parse<T>(event: MessageEvent): T | null {
  try {
    return JSON.parse(String(event.data)) as T;
  } catch {
    return null;
  }
}

export class LogStream {
  lastSeq: number | null;
  private readonly seen = new Set<number>();
  private source: EventSource | null = null;
  private pending: LogLine[] = [];
  private flushTimer: number | null = null;
  private retryTimer: number | null = null;
  private retries = 0;
  private state: StreamState = 'closed';
  private stopped = false;
  /** Lines before the snapshot's first line that are not shown (only in the log artifact). */
  hiddenBefore = 0;

  constructor(
    private readonly runId: string,
    private readonly handlers: LogStreamHandlers,
    sinceSeq: number | null = null,
  ) {
    this.lastSeq = sinceSeq;
  }

  url(): string {
    const base = `/api/tunix/runs/${encodeURIComponent(this.runId)}/logs`;
    const url = this.lastSeq === null ? base : `${base}?since_seq=${this.lastSeq}`;
    return withToken(url);
  }

  /** Paint the snapshot tail (when starting from scratch), then stream the rest. */
  start(snapshotTail = DEFAULT_SNAPSHOT_TAIL): void {
    this.stopped = false;
    if (this.lastSeq !== null || snapshotTail <= 0) {
      this.connect();
      return;
    }
    this.setState('connecting');
    const path = `/api/tunix/runs/${encodeURIComponent(this.runId)}/logs/snapshot`;
    api
      .get<LogSnapshot>(path, { tail: snapshotTail })
      .then((snapshot) => {
        if (this.stopped) return;
        const first = snapshot.lines[0]?.seq;
        if (snapshot.lines.length >= snapshotTail && typeof first === 'number') this.hiddenBefore = first - 1;
        for (const line of snapshot.lines) this.accept(line);
        this.flush();
        if (typeof snapshot.last_seq === 'number' && (this.lastSeq === null || snapshot.last_seq > this.lastSeq)) {
          this.lastSeq = snapshot.last_seq;
        }
      })
      .catch(() => undefined) // no snapshot: the stream replays the log from the start
      .finally(() => {
        if (!this.stopped) this.connect();
      });
  }

  connect(): void {
    this.closeSource();
    this.clearRetry();
    this.setState(this.retries > 0 ? 'reconnecting' : 'connecting');
    const source = new EventSource(this.url());
    this.source = source;
    source.onopen = () => {
      if (this.source !== source) return;
      this.retries = 0;
      this.setState('open');
    };
    source.onerror = () => {
      if (this.source !== source || this.state === 'ended') return;
      this.flush();
      this.closeSource();
      this.scheduleRetry();
    };
    source.addEventListener('log', (event) => {
      if (this.source !== source) return;
      const line = parse<LogLine>(event as MessageEvent);
      if (line) this.accept(line);
    });
    source.addEventListener('metric', (event) => {
      if (this.source !== source) return;
      const metric = parse<MetricEvent>(event as MessageEvent);
      if (metric) this.handlers.onMetric?.(metric);
    });
    source.addEventListener('status', (event) => {
      if (this.source !== source) return;
      const status = parse<{ status: string; attempt?: number; reason?: string | null }>(
        event as MessageEvent,
      );
      if (status) this.handlers.onStatus?.(status);
    });
    source.addEventListener('truncated', (event) => {
      if (this.source !== source) return;
      const info = parse<{ dropped: number; resume_seq: number }>(event as MessageEvent);
      if (info) this.handlers.onTruncated?.(info);
    });
    source.addEventListener('end', (event) => {
      if (this.source !== source) return;
      const info = parse<{ status: string }>(event as MessageEvent);
      this.flush();
      this.closeSource();
      this.setState('ended');
      this.handlers.onEnd?.(info?.status ?? '');
    });
  }

  /** Reconnect now (the Reconnect button), resuming after the last seq we hold. */
  reconnect(): void {
    this.flush();
    this.retries = Math.max(this.retries, 1);
    this.connect();
  }

  close(): void {
    this.stopped = true;
    this.flush();
    this.clearRetry();
    this.closeSource();
    if (this.state !== 'ended') this.setState('closed');
  }

  private accept(line: LogLine): void {
    if (typeof line.seq !== 'number' || this.seen.has(line.seq)) return;
    this.seen.add(line.seq);
    if (this.lastSeq === null || line.seq > this.lastSeq) this.lastSeq = line.seq;
    this.pending.push(line);
    // Batch renders: a fast child can print thousands of lines a second.
    if (this.flushTimer === null) this.flushTimer = window.setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    if (this.flushTimer !== null) {
      window.clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    this.handlers.onLines(lines);
  }

  private scheduleRetry(): void {
    const delay = RECONNECT_DELAYS_MS[Math.min(this.retries, RECONNECT_DELAYS_MS.length - 1)];
    this.retries += 1;
    this.setState('reconnecting');
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) {
      window.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private closeSource(): void {
    if (this.source) {
      this.source.onopen = null;
      this.source.onerror = null;
      this.source.close();
      this.source = null;
    }
  }

  private setState(state: StreamState): void {
    this.state = state;
    this.handlers.onState?.(state);
  }
}
