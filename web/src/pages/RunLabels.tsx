// A run's name, tags and notes on its page, each editable in place (PATCH /api/tunix/runs/{id},
// allowed in any status). Inputs are checked with the API's limits first; the API's own 422
// message is shown when it refuses.
import { useState, type ReactNode } from 'react';
import { errorMessage, request } from '../api/client';
import type { Run } from '../api/types';
import { shortId } from '../lib/format';
import { Link } from '../lib/router';
import { checkField, parseTags } from './runFields';

export interface LabelsPatch {
  name?: string | null;
  tags?: string[];
  add_tags?: string[];
  remove_tags?: string[];
  notes?: string;
}

export function patchRun(runId: string, body: LabelsPatch): Promise<Run> {
  return request<Run>('PATCH', `/api/tunix/runs/${encodeURIComponent(runId)}`, { body });
}

function useSave(runId: string, onSaved: (run: Run) => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function save(body: LabelsPatch, check?: string | null): Promise<boolean> {
    if (check) {
      setError(check);
      return false;
    }
    setBusy(true);
    setError(null);
    try {
      onSaved(await patchRun(runId, body));
      return true;
    } catch (exc) {
      setError(errorMessage(exc));
      return false;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, save, clearError: () => setError(null) };
}

function LabelError({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <span className="field-error" role="alert" data-testid="labels-error">
      {message}
    </span>
  );
}

/** The run's name (its short id when it has none) with a rename control; for the page's h1. */
export function RunName({ runId, run, onSaved }: { runId: string; run: Run | undefined; onSaved: (run: Run) => void }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState('');
  const { busy, error, save, clearError } = useSave(runId, onSaved);

  if (!editing || !run) {
    return (
      <>
        <span data-testid="run-title">{run?.name ? run.name : <code>{shortId(runId)}</code>}</span>
        {run && (
          <button
            type="button"
            className="btn btn-small"
            title="Rename"
            onClick={() => {
              setDraft(run.name ?? '');
              clearError();
              setEditing(true);
            }}
            data-testid="edit-name"
          >
            Rename
          </button>
        )}
      </>
    );
  }
  return (
    <form
      className="inline-edit"
      onSubmit={(event) => {
        event.preventDefault();
        void save({ name: draft.trim() || null }, checkField('name', draft)).then((ok) => ok && setEditing(false));
      }}
    >
      <input
        value={draft}
        autoFocus
        placeholder={shortId(runId)}
        aria-label="run name"
        onChange={(e) => setDraft(e.target.value)}
        onKeyDown={(e) => e.key === 'Escape' && setEditing(false)}
        data-testid="name-input"
      />
      <button type="submit" className="btn btn-small btn-primary" disabled={busy} data-testid="save-name">
        Save
      </button>
      <button type="button" className="btn btn-small" onClick={() => setEditing(false)}>
        Cancel
      </button>
      <LabelError message={error} />
    </form>
  );
}

/** Tags (removable chips, an input to add) and notes (edit in place) under the run's header. */
export function RunTagsNotes({ run, onSaved }: { run: Run; onSaved: (run: Run) => void }) {
  const [tagDraft, setTagDraft] = useState('');
  const [notesDraft, setNotesDraft] = useState<string | null>(null);
  const tags = useSave(run.run_id, onSaved);
  const notes = useSave(run.run_id, onSaved);

  function addTags() {
    const added = parseTags(tagDraft);
    if (added.length === 0) return;
    void tags.save({ add_tags: added }, checkField('tags', tagDraft)).then((ok) => ok && setTagDraft(''));
  }

  return (
    <div className="run-labels" data-testid="run-labels">
      <div className="row tag-row" data-testid="run-tags">
        {(run.tags ?? []).map((tag) => (
          <span key={tag} className="tag tag-chip" data-testid="run-tag-chip" data-tag={tag}>
            <Link to={`/runs?tags=${encodeURIComponent(tag)}`} title={`runs tagged ${tag}`}>
              {tag}
            </Link>
            <button
              type="button"
              className="chip-remove"
              aria-label={`remove tag ${tag}`}
              disabled={tags.busy}
              onClick={() => void tags.save({ remove_tags: [tag] })}
              data-testid="remove-tag"
            >
              ×
            </button>
          </span>
        ))}
        <form
          className="inline-edit"
          onSubmit={(event) => {
            event.preventDefault();
            addTags();
          }}
        >
          <input
            value={tagDraft}
            placeholder="add tag"
            aria-label="add tag"
            size={12}
            onChange={(e) => setTagDraft(e.target.value)}
            data-testid="tag-input"
          />
          <button type="submit" className="btn btn-small" disabled={tags.busy || !tagDraft.trim()} data-testid="add-tag">
            Add
          </button>
        </form>
        <LabelError message={tags.error} />
      </div>
      {notesDraft === null ? (
        <NotesView notes={run.notes ?? ''} onEdit={() => setNotesDraft(run.notes ?? '')} />
      ) : (
        <form
          className="notes-edit"
          onSubmit={(event) => {
            event.preventDefault();
            void notes
              .save({ notes: notesDraft }, checkField('notes', notesDraft))
              .then((ok) => ok && setNotesDraft(null));
          }}
        >
          <textarea
            value={notesDraft}
            rows={4}
            autoFocus
            aria-label="notes"
            onChange={(e) => setNotesDraft(e.target.value)}
            data-testid="notes-input"
          />
          <div className="row">
            <button type="submit" className="btn btn-small btn-primary" disabled={notes.busy} data-testid="save-notes">
              Save notes
            </button>
            <button type="button" className="btn btn-small" onClick={() => setNotesDraft(null)}>
              Cancel
            </button>
            <LabelError message={notes.error} />
          </div>
        </form>
      )}
    </div>
  );
}

function NotesView({ notes, onEdit }: { notes: string; onEdit: () => void }): ReactNode {
  return (
    <div className="row notes-view">
      {notes ? (
        <p className="notes" data-testid="run-notes-view">
          {notes}
        </p>
      ) : (
        <span className="muted" data-testid="run-notes-view">
          No notes.
        </span>
      )}
      <button type="button" className="btn btn-small" onClick={onEdit} data-testid="edit-notes">
        {notes ? 'Edit notes' : 'Add notes'}
      </button>
    </div>
  );
}
