// Submit a form to the API: busy while the request runs, the error (if any) kept for the
// banner, and the API's 422 field errors ready to show next to their fields.
import { useState } from 'react';
import { ApiError } from '../api/client';

export interface SubmitState {
  busy: boolean;
  error: unknown;
  fieldErrors: Record<string, string>;
  submit: (action: () => Promise<void>) => Promise<void>;
}

export function useSubmit(): SubmitState {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const fieldErrors = error instanceof ApiError ? error.fieldErrors() : {};

  async function submit(action: () => Promise<void>): Promise<void> {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  }

  return { busy, error, fieldErrors, submit };
}
