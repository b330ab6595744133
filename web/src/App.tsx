import { useEffect, useState } from 'react';
import { CONNECTIVITY_EVENT, api } from './api/client';
import { readToken, saveToken } from './api/token';
import type { Health } from './api/types';
import { ErrorBanner } from './components/ErrorBanner';
import { Link, matchPath, navigate, useLocation } from './lib/router';
import { useAsync } from './lib/useAsync';
import { DatasetDetailPage } from './pages/DatasetDetailPage';
import { DatasetsPage } from './pages/DatasetsPage';
import { LeaderboardPage } from './pages/LeaderboardPage';
import { NewRunPage } from './pages/NewRunPage';
import { RunComparePage } from './pages/RunComparePage';
import { RunDetailPage } from './pages/RunDetailPage';
import { RunsPage } from './pages/RunsPage';
import { SweepPage } from './pages/SweepPage';
import { SweepsPage } from './pages/SweepsPage';
import { TraceComparePage } from './pages/TraceComparePage';
import { TraceDetailPage } from './pages/TraceDetailPage';
import { TracesPage } from './pages/TracesPage';

const NAV = [
  { to: '/traces', label: 'Traces' },
  { to: '/datasets', label: 'Datasets' },
  { to: '/runs', label: 'Runs' },
  { to: '/sweeps', label: 'Sweeps' },
];

function renderRoute(path: string, search: URLSearchParams) {
  let params: Record<string, string> | null;
  if (path === '/traces') return <TracesPage search={search} />;
  if (path === '/traces/compare') return <TraceComparePage search={search} />;
  if ((params = matchPath('/traces/:id', path))) return <TraceDetailPage id={params.id} />;
  if (path === '/datasets') return <DatasetsPage />;
  if ((params = matchPath('/datasets/:key/leaderboard', path)))
    return <LeaderboardPage datasetKey={params.key} search={search} />;
  if ((params = matchPath('/datasets/:key', path))) return <DatasetDetailPage datasetKey={params.key} />;
  if (path === '/runs') return <RunsPage search={search} />;
  if (path === '/runs/new') return <NewRunPage search={search} />;
  if (path === '/compare') return <RunComparePage search={search} />;
  if ((params = matchPath('/runs/:id', path))) return <RunDetailPage id={params.id} search={search} />;
  if (path === '/sweeps') return <SweepsPage />;
  if ((params = matchPath('/sweeps/:id', path))) return <SweepPage id={params.id} />;
  return (
    <section className="page" data-testid="not-found">
      <h1>Not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. Go to <Link to="/traces">Traces</Link>.
      </p>
    </section>
  );
}

function SettingsPanel({ onClose }: { onClose: () => void }) {
  const [token, setToken] = useState(readToken);
  return (
    <form
      className="settings card"
      data-testid="settings-panel"
      onSubmit={(event) => {
        event.preventDefault();
        saveToken(token.trim());
        onClose();
        window.location.reload();
      }}
    >
      <label>
        API token <span className="muted">(only when the server sets TUNIX_RT_API_TOKEN)</span>
        <input
          type="password"
          value={token}
          autoComplete="off"
          onChange={(event) => setToken(event.target.value)}
          data-testid="token-input"
        />
      </label>
      <div className="row end">
        <button type="button" className="btn" onClick={onClose}>
          Close
        </button>
        <button type="submit" className="btn btn-primary" data-testid="token-save">
          Save
        </button>
      </div>
    </form>
  );
}

export function App() {
  const { path, search } = useLocation();
  const [settingsOpen, setSettingsOpen] = useState(false);
  const health = useAsync((signal) => api.get<Health>('/api/health', undefined, signal), [], {
    refreshMs: 15000,
  });

  const [reachable, setReachable] = useState(true);
  useEffect(() => {
    const onConnectivity = (event: Event) => setReachable(Boolean((event as CustomEvent<boolean>).detail));
    window.addEventListener(CONNECTIVITY_EVENT, onConnectivity);
    return () => window.removeEventListener(CONNECTIVITY_EVENT, onConnectivity);
  }, []);

  useEffect(() => {
    if (path === '/' || path === '') navigate('/traces', { replace: true });
  }, [path]);

  return (
    <div className="app">
      <header className="topbar">
        <Link to="/traces" className="brand">
          tunix-rt
        </Link>
        <nav className="nav" aria-label="main">
          {NAV.map((item) => (
            <Link
              key={item.to}
              to={item.to}
              className={path.startsWith(item.to) ? 'active' : undefined}
              aria-current={path.startsWith(item.to) ? 'page' : undefined}
              data-testid={`nav-${item.label.toLowerCase()}`}
            >
              {item.label}
            </Link>
          ))}
        </nav>
        <span className="spacer" />
        <span className={reachable ? 'health muted' : 'health offline'} data-testid="health" data-online={reachable}>
          {!reachable || (health.error && !health.data)
            ? '● API offline'
            : health.data
              ? `v${health.data.version} · ${health.data.database}${health.data.status === 'ok' ? '' : ` · ${health.data.status}`}`
              : ''}
        </span>
        <button
          type="button"
          className="btn btn-small"
          onClick={() => setSettingsOpen((open) => !open)}
          aria-expanded={settingsOpen}
          data-testid="settings-toggle"
        >
          Settings
        </button>
      </header>
      {settingsOpen && <SettingsPanel onClose={() => setSettingsOpen(false)} />}
      <main>
        {health.error !== undefined && <ErrorBanner error={health.error} onRetry={health.reload} />}
        {renderRoute(path, search)}
      </main>
    </div>
  );
}
