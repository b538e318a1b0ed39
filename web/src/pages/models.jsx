// The original and optimized model lists: name search, tag filters, cursor pagination.
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Link, navigate, setQuery, useLocation } from '../router.jsx';
import { Badge, Empty, ErrorText, Loading, Tabs, useAsync, when } from '../ui.jsx';
import { ImportDialog } from './import.jsx';

const MODELS = `
query($list: ModelList!, $search: String, $tags: [TagInput!], $first: Int!, $after: String) {
  models(list: $list, search: $search, tags: $tags, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name description updatedAt versionCount
      tags { key value }
      latestVersion { name format status runtime }
    }
  }
}`;
const PAGE = 20;

function parseTags(text) {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      const [key, ...rest] = t.split('=');
      return { key: key.trim(), value: rest.join('=').trim() };
    });
}

export function ModelsPage({ me }) {
  const { query } = useLocation();
  const list = query.get('list') === 'OPTIMIZED' ? 'OPTIMIZED' : 'ORIGINAL';
  const search = query.get('q') || '';
  const tagText = query.get('tags') || '';
  const [cursors, setCursors] = useState([null]); // the "after" of each page seen
  const [importing, setImporting] = useState(false);
  const [draft, setDraft] = useState({ q: search, tags: tagText });
  const after = cursors[cursors.length - 1];
  const tags = parseTags(tagText);
  const { data, error, loading } = useAsync(
    () => gql(MODELS, { list, search: search || null, tags: tags.length ? tags : null, first: PAGE, after }),
    [list, search, tagText, after],
  );
  const apply = (e) => {
    e.preventDefault();
    setCursors([null]);
    setQuery({ q: draft.q.trim(), tags: draft.tags.trim() });
  };
  const models = data?.models.nodes || [];
  return (
    <section>
      <div class="page-head">
        <h1>Models</h1>
        {me.role !== 'VIEWER' && (
          <button type="button" class="primary" onClick={() => setImporting(true)}>
            Import model
          </button>
        )}
      </div>
      <Tabs
        label="Model lists"
        tabs={[
          ['ORIGINAL', 'Original models'],
          ['OPTIMIZED', 'Optimized models'],
        ]}
        current={list}
        onSelect={(l) => {
          setCursors([null]);
          setQuery({ list: l === 'ORIGINAL' ? null : l });
        }}
      />
      <form class="filters" onSubmit={apply} role="search">
        <div class="field">
          <label for="model-search">Name contains</label>
          <input id="model-search" type="search" value={draft.q} onInput={(e) => setDraft({ ...draft, q: e.currentTarget.value })} />
        </div>
        <div class="field">
          <label for="model-tags">Tags (key=value, comma separated)</label>
          <input id="model-tags" value={draft.tags} placeholder="team=vision, stage=prod" onInput={(e) => setDraft({ ...draft, tags: e.currentTarget.value })} />
        </div>
        <button type="submit">Filter</button>
      </form>
      <ErrorText error={error} />
      {loading && !data ? (
        <Loading what="Loading models" />
      ) : models.length === 0 ? (
        <Empty>No models match.</Empty>
      ) : (
        <table class="list" aria-label={list === 'ORIGINAL' ? 'Original models' : 'Optimized models'}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Latest version</th>
              <th scope="col">Versions</th>
              <th scope="col">Tags</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {models.map((m) => (
              <tr key={m.id}>
                <td>
                  <Link href={`/models/${m.id}`}>{m.name}</Link>
                  {m.description && <div class="muted small-text">{m.description}</div>}
                </td>
                <td>
                  {m.latestVersion ? (
                    <>
                      {m.latestVersion.name} · {m.latestVersion.format} <Badge value={m.latestVersion.status} />
                    </>
                  ) : (
                    '—'
                  )}
                </td>
                <td>{m.versionCount}</td>
                <td>
                  {m.tags.map((t) => (
                    <span class="tag" key={t.key}>
                      {t.key}
                      {t.value && `=${t.value}`}
                    </span>
                  ))}
                </td>
                <td>{when(m.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous
        </button>
        <span>Page {cursors.length}</span>
        <button
          type="button"
          disabled={!data?.models.pageInfo.hasNextPage}
          onClick={() => setCursors([...cursors, data.models.pageInfo.endCursor])}
        >
          Next
        </button>
      </nav>
      {importing && (
        <ImportDialog
          list={list}
          onClose={() => setImporting(false)}
          onDone={(result) => navigate(`/models/${result.model.id}`)}
        />
      )}
    </section>
  );
}
