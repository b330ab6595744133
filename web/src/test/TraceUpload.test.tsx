import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseTraceFile } from '../lib/traceFile';
import { TraceUpload } from '../pages/TraceUpload';

const trace = (answer: string) => ({
  trace_version: '1',
  prompt: 'p',
  final_answer: answer,
  steps: [{ i: 0, type: 'think', content: 'x' }],
  meta: {},
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('parseTraceFile', () => {
  it('reads JSONL and reports bad lines by their line number', () => {
    const text = [JSON.stringify(trace('a')), '{not json', '', '[1,2]', JSON.stringify(trace('b'))].join('\n');
    const parsed = parseTraceFile('t.jsonl', text);
    expect(parsed.items.map((i) => i.line)).toEqual([1, 5]);
    expect(parsed.errors.map((e) => e.line)).toEqual([2, 4]);
    expect(parsed.errors[0].message).toContain('invalid JSON');
  });

  it('reads a JSON array or a single JSON object', () => {
    expect(parseTraceFile('t.json', JSON.stringify([trace('a'), trace('b')])).items).toHaveLength(2);
    expect(parseTraceFile('t.json', JSON.stringify(trace('a'))).items).toHaveLength(1);
  });
});

describe('TraceUpload', () => {
  it('uploads in batches, shows per-line errors, and resends a rejected batch without its bad lines', async () => {
    const bodies: unknown[][] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init?: RequestInit) => {
        const body = JSON.parse(String(init?.body)) as { final_answer: string }[];
        bodies.push(body);
        const bad = body.findIndex((t) => t.final_answer === '');
        if (bad >= 0) {
          return new Response(
            JSON.stringify({
              detail: 'invalid trace',
              errors: [{ index: bad, field: 'final_answer', message: 'String should have at least 1 character' }],
            }),
            { status: 422 },
          );
        }
        return new Response(JSON.stringify({ created: body.length, ids: [] }), { status: 201 });
      }),
    );
    const onDone = vi.fn();
    render(<TraceUpload onDone={onDone} />);
    const text = [trace('a'), trace(''), trace('c')].map((t) => JSON.stringify(t)).join('\n') + '\nnope\n';
    const file = new File([text], 'traces.jsonl', { type: 'application/x-ndjson' });
    fireEvent.change(screen.getByTestId('upload-input'), { target: { files: [file] } });

    await waitFor(() => expect(screen.getByTestId('upload-result').textContent).toContain('Imported 2 traces'));
    const errors = screen.getByTestId('upload-errors').textContent ?? '';
    expect(errors).toContain('line 2: final_answer: String should have at least 1 character');
    expect(errors).toContain('line 4: invalid JSON');
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toHaveLength(2);
    expect(screen.getByTestId('upload-progress').getAttribute('value')).toBe('3');
    expect(onDone).toHaveBeenCalled();
  });
});
