import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveLogs } from '../components/LiveLogs';
import { RECONNECT_DELAYS_MS } from '../lib/logStream';
import { mockFetch } from './fetchMock';
import { MockEventSource } from './mockEventSource';

function shownLines(): { seq: number; stream: string; text: string }[] {
  return [...screen.getByTestId('log-lines').querySelectorAll('.log-line')].map((el) => ({
    seq: Number(el.getAttribute('data-seq')),
    stream: el.getAttribute('data-stream') ?? '',
    text: el.textContent ?? '',
  }));
}

function flush() {
  act(() => {
    vi.advanceTimersByTime(100);
  });
}

describe('LiveLogs', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    MockEventSource.reset();
    vi.stubGlobal('EventSource', MockEventSource);
    window.localStorage.clear();
  });
  afterEach(() => {
    cleanup();
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('opens the run log stream and appends lines as they come, stdout and stderr apart', () => {
    render(<LiveLogs snapshotTail={0} runId="run-1" />);
    const es = MockEventSource.latest();
    expect(es.url).toBe('/api/tunix/runs/run-1/logs');
    act(() => {
      es.open();
      es.log(1, 'step 1 loss 2.5');
      es.log(2, 'warning: slow', 'stderr');
    });
    flush();
    expect(shownLines()).toEqual([
      { seq: 1, stream: 'stdout', text: 'step 1 loss 2.5' },
      { seq: 2, stream: 'stderr', text: 'warning: slow' },
    ]);
    act(() => es.log(3, 'step 2 loss 2.1'));
    flush();
    expect(shownLines().map((l) => l.seq)).toEqual([1, 2, 3]);
    expect(screen.getByTestId('stream-state').getAttribute('data-state')).toBe('open');
  });

  it('drops a line whose seq it has already shown', () => {
    render(<LiveLogs snapshotTail={0} runId="run-1" />);
    const es = MockEventSource.latest();
    act(() => {
      es.log(1, 'a');
      es.log(2, 'b');
      es.log(2, 'b again');
      es.log(1, 'a again');
      es.log(3, 'c');
    });
    flush();
    expect(shownLines().map((l) => l.text)).toEqual(['a', 'b', 'c']);
  });

  it('reconnect button opens a new stream from the last seq, and replayed lines are not duplicated', () => {
    render(<LiveLogs snapshotTail={0} runId="run-1" />);
    const first = MockEventSource.latest();
    act(() => {
      first.open();
      first.log(1, 'one');
      first.log(2, 'two');
    });
    flush();
    fireEvent.click(screen.getByTestId('reconnect-logs'));
    expect(first.readyState).toBe(MockEventSource.CLOSED);
    const second = MockEventSource.latest();
    expect(second).not.toBe(first);
    expect(second.url).toBe('/api/tunix/runs/run-1/logs?since_seq=2');
    act(() => {
      second.open();
      second.log(2, 'two'); // a server replaying the boundary line must not show it twice
      second.log(3, 'three');
    });
    flush();
    expect(shownLines().map((l) => l.text)).toEqual(['one', 'two', 'three']);
  });

  it('after a dropped connection it reconnects by itself with since_seq of the last line', () => {
    render(<LiveLogs snapshotTail={0} runId="run-9" />);
    const first = MockEventSource.latest();
    act(() => {
      first.open();
      first.log(5, 'five');
      first.log(6, 'six');
      first.fail();
    });
    expect(screen.getByTestId('stream-state').getAttribute('data-state')).toBe('reconnecting');
    expect(MockEventSource.instances).toHaveLength(1);
    act(() => {
      vi.advanceTimersByTime(RECONNECT_DELAYS_MS[0] + 10);
    });
    expect(MockEventSource.instances).toHaveLength(2);
    const second = MockEventSource.latest();
    expect(second.url).toBe('/api/tunix/runs/run-9/logs?since_seq=6');
    act(() => {
      second.open();
      second.log(7, 'seven');
    });
    flush();
    expect(shownLines().map((l) => l.seq)).toEqual([5, 6, 7]);
  });

  it('closes on end, reports the final status and does not reconnect', () => {
    const onEnd = vi.fn();
    const onMetric = vi.fn();
    render(<LiveLogs snapshotTail={0} runId="run-1" onEnd={onEnd} onMetric={onMetric} />);
    const es = MockEventSource.latest();
    act(() => {
      es.open();
      es.log(1, 'last line');
      es.emit('metric', { step: 10, values: { loss: 1.25 } });
      es.emit('end', { status: 'completed' });
    });
    expect(onMetric).toHaveBeenCalledWith({ step: 10, values: { loss: 1.25 } });
    expect(onEnd).toHaveBeenCalledWith('completed');
    expect(es.readyState).toBe(MockEventSource.CLOSED);
    expect(shownLines().map((l) => l.text)).toEqual(['last line']);
    act(() => {
      es.fail();
      vi.advanceTimersByTime(60_000);
    });
    expect(MockEventSource.instances).toHaveLength(1);
    expect(screen.getByTestId('stream-state').getAttribute('data-state')).toBe('ended');
  });

  it('passes the API token as access_token, since EventSource cannot send headers', () => {
    window.localStorage.setItem('tunix-rt.token', 's3cret');
    render(<LiveLogs snapshotTail={0} runId="run-1" />);
    expect(MockEventSource.latest().url).toBe('/api/tunix/runs/run-1/logs?access_token=s3cret');
  });

  it('paints the snapshot tail first, then streams from its last seq without repeating lines', async () => {
    const fetchSpy = mockFetch([
      {
        path: '/api/tunix/runs/run-2/logs/snapshot',
        body: {
          run_id: 'run-2',
          lines: [
            { seq: 41, stream: 'stdout', text: 'forty-one' },
            { seq: 42, stream: 'stderr', text: 'forty-two' },
          ],
          last_seq: 42,
          dropped_lines: 0,
          status: 'running',
        },
      },
    ]);
    render(<LiveLogs runId="run-2" snapshotTail={2} />);
    expect(MockEventSource.instances).toHaveLength(0); // the stream waits for the snapshot
    await act(async () => {
      await vi.advanceTimersByTimeAsync(100);
    });
    expect(String(fetchSpy.mock.calls[0][0])).toBe('/api/tunix/runs/run-2/logs/snapshot?tail=2');
    const es = MockEventSource.latest();
    expect(es.url).toBe('/api/tunix/runs/run-2/logs?since_seq=42');
    act(() => {
      es.log(42, 'forty-two');
      es.log(43, 'forty-three');
    });
    flush();
    expect(shownLines().map((l) => l.seq)).toEqual([41, 42, 43]);
    expect(shownLines()[1].stream).toBe('stderr');
    expect(screen.getByTestId('log-hidden-before').textContent).toContain('40 earlier lines');
  });

  it('streams from the start when the snapshot is unavailable', async () => {
    mockFetch([]);
    render(<LiveLogs runId="run-3" />);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(100);
    });
    expect(MockEventSource.latest().url).toBe('/api/tunix/runs/run-3/logs');
  });

  it('follows the tail until the user scrolls up, and again after "Follow tail"', () => {
    render(<LiveLogs snapshotTail={0} runId="run-1" />);
    const box = screen.getByTestId('log-lines');
    let height = 1000;
    Object.defineProperty(box, 'scrollHeight', { configurable: true, get: () => height });
    Object.defineProperty(box, 'clientHeight', { configurable: true, get: () => 200 });
    const es = MockEventSource.latest();
    act(() => es.log(1, 'one'));
    flush();
    expect(box.scrollTop).toBe(1000);

    box.scrollTop = 300; // the user scrolls up to read
    fireEvent.scroll(box);
    expect(screen.getByTestId('follow-tail')).toBeTruthy();
    height = 1200;
    act(() => es.log(2, 'two'));
    flush();
    expect(box.scrollTop).toBe(300);

    fireEvent.click(screen.getByTestId('follow-tail'));
    expect(box.scrollTop).toBe(1200);
    expect(screen.queryByTestId('follow-tail')).toBeNull();
  });
});
