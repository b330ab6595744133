import { errorMessage } from '../api/client';

export function ErrorBanner({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (error === undefined || error === null) return null;
  return (
    <div className="banner banner-error" role="alert" data-testid="error-banner">
      <span>{errorMessage(error)}</span>
      {onRetry && (
        <button type="button" className="btn btn-small" onClick={onRetry} data-testid="error-retry">
          Retry
        </button>
      )}
    </div>
  );
}
