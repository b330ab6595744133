// Upload a JSON/JSONL file of traces in batches to POST /api/traces/batch.
// A batch is all-or-nothing on the server: when it answers 422 with per-index errors we
// record those lines and resend the batch without them, so one bad line does not sink
// its 499 neighbours.
import { useState } from 'react';
import { ApiError, api, errorMessage } from '../api/client';
import { parseTraceFile } from '../lib/traceFile';

export const UPLOAD_BATCH_SIZE = 500;

interface LineError {
  line: number;
  message: string;
}

export function TraceUpload({ onDone }: { onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [created, setCreated] = useState<number | null>(null);
  const [lineErrors, setLineErrors] = useState<LineError[]>([]);
  const [fatal, setFatal] = useState<string | null>(null);

  async function upload(file: File) {
    setBusy(true);
    setCreated(null);
    setFatal(null);
    const parsed = parseTraceFile(file.name, await file.text());
    const errors: LineError[] = [...parsed.errors];
    setLineErrors([...errors]);
    setProgress({ done: 0, total: parsed.items.length });
    let createdCount = 0;
    try {
      for (let start = 0; start < parsed.items.length; start += UPLOAD_BATCH_SIZE) {
        let batch = parsed.items.slice(start, start + UPLOAD_BATCH_SIZE);
        for (let attempt = 0; attempt < 2 && batch.length > 0; attempt += 1) {
          try {
            const res = await api.post<{ created: number }>('/api/traces/batch', batch.map((b) => b.payload));
            createdCount += res.created;
            break;
          } catch (exc) {
            if (!(exc instanceof ApiError) || exc.status !== 422 || attempt > 0) throw exc;
            // One entry per rejected line, all of its field errors together.
            const bad = new Map<number, string[]>();
            for (const err of exc.errors) {
              const index = typeof err.index === 'number' ? err.index : NaN;
              if (!Number.isInteger(index) || !batch[index]) continue;
              bad.set(index, [...(bad.get(index) ?? []), `${err.field ? `${err.field}: ` : ''}${err.message}`]);
            }
            if (bad.size === 0) throw exc;
            for (const [index, messages] of bad) errors.push({ line: batch[index].line, message: messages.join('; ') });
            batch = batch.filter((_, i) => !bad.has(i));
          }
        }
        setLineErrors([...errors]);
        setProgress({ done: Math.min(start + UPLOAD_BATCH_SIZE, parsed.items.length), total: parsed.items.length });
      }
    } catch (exc) {
      setFatal(errorMessage(exc));
    } finally {
      errors.sort((a, b) => a.line - b.line);
      setLineErrors([...errors]);
      setCreated(createdCount);
      setBusy(false);
      onDone();
    }
  }

  return (
    <div className="card" data-testid="trace-upload">
      <h3>Upload traces</h3>
      <p className="muted">A JSON trace, a JSON array of traces, or a JSONL file (one trace per line).</p>
      <input
        type="file"
        accept=".json,.jsonl,.ndjson,application/json"
        disabled={busy}
        onChange={(event) => {
          const file = event.target.files?.[0];
          if (file) void upload(file);
          event.target.value = '';
        }}
        data-testid="upload-input"
      />
      {progress && (
        <div className="progress-row">
          <progress max={Math.max(progress.total, 1)} value={progress.done} data-testid="upload-progress" />
          <span className="muted">
            {progress.done}/{progress.total}
          </span>
        </div>
      )}
      {created !== null && (
        <p data-testid="upload-result">
          Imported {created} trace{created === 1 ? '' : 's'}
          {lineErrors.length > 0 && `, ${lineErrors.length} line${lineErrors.length === 1 ? '' : 's'} rejected`}.
        </p>
      )}
      {fatal && (
        <div className="banner banner-error" role="alert" data-testid="error-banner">
          {fatal}
        </div>
      )}
      {lineErrors.length > 0 && (
        <ul className="line-errors" data-testid="upload-errors">
          {lineErrors.slice(0, 200).map((err, i) => (
            <li key={`${err.line}-${i}`}>
              line {err.line}: {err.message}
            </li>
          ))}
          {lineErrors.length > 200 && <li>… and {lineErrors.length - 200} more</li>}
        </ul>
      )}
    </div>
  );
}
