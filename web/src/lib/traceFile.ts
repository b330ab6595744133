// Parse an uploaded trace file: a JSON object, a JSON array of objects, or JSONL.
// Lines that are not JSON objects become per-line errors; the rest are uploaded.

export interface ParsedTraces {
  items: { line: number; payload: unknown }[];
  errors: { line: number; message: string }[];
}

export function parseTraceFile(name: string, text: string): ParsedTraces {
  const trimmed = text.trim();
  const items: ParsedTraces['items'] = [];
  const errors: ParsedTraces['errors'] = [];
  if (!trimmed) return { items, errors: [{ line: 1, message: 'the file is empty' }] };
  const looksJsonl = name.toLowerCase().endsWith('.jsonl') || name.toLowerCase().endsWith('.ndjson');
  if (!looksJsonl) {
    try {
      const value: unknown = JSON.parse(trimmed);
      const list = Array.isArray(value) ? value : [value];
      list.forEach((payload, index) => {
        if (typeof payload === 'object' && payload !== null && !Array.isArray(payload)) {
          items.push({ line: index + 1, payload });
        } else errors.push({ line: index + 1, message: 'not a JSON object' });
      });
      return { items, errors };
    } catch {
      // not one JSON document: fall through and read it as JSONL
    }
  }
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line) return;
    try {
      const payload: unknown = JSON.parse(line);
      if (typeof payload === 'object' && payload !== null && !Array.isArray(payload)) {
        items.push({ line: index + 1, payload });
      } else errors.push({ line: index + 1, message: 'not a JSON object' });
    } catch (exc) {
      errors.push({ line: index + 1, message: `invalid JSON: ${(exc as Error).message}` });
    }
  });
  return { items, errors };
}
