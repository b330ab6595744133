export function Loading({ show }: { show: boolean }) {
  if (!show) return null;
  return (
    <p className="muted loading" data-testid="loading" aria-live="polite">
      Loading…
    </p>
  );
}
