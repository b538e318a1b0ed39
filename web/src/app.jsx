// The shell: sign-in with an API token (kept in sessionStorage), navigation and routes.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, gql, getToken, onTokenChange, setToken } from './api.js';
import { Link, match, navigate, useLocation } from './router.jsx';
import { Announcer, ErrorText } from './ui.jsx';
import { ModelsPage } from './pages/models.jsx';
import { ModelPage } from './pages/model.jsx';
import { ServicesPage } from './pages/services.jsx';
import { ServicePage } from './pages/service.jsx';
import { JobsPage } from './pages/jobs.jsx';
import { JobPage } from './pages/job.jsx';

const ME = '{ me { id name role } }';

function SignIn({ onSignedIn }) {
  const [token, setValue] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const data = await gql(ME, {}, token.trim());
      setToken(token.trim());
      onSignedIn(data.me);
    } catch (err) {
      setError(err instanceof ApiError ? new Error('That token was not accepted.') : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin" id="main">
      <form onSubmit={submit} class="card" aria-labelledby="signin-title">
        <h1 id="signin-title">modelrepo console</h1>
        <p class="muted">
          Sign in with an API token. <code>make run</code> prints an admin token on the first start;
          <code> modelrepo token create</code> makes more.
        </p>
        <div class="field">
          <label for="token">API token</label>
          <input
            id="token"
            type="password"
            autocomplete="off"
            required
            autofocus
            value={token}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
        </div>
        <ErrorText error={error} />
        <button type="submit" class="primary" disabled={busy || !token.trim()}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

const ROUTES = [
  ['/models/:id', ModelPage],
  ['/models', ModelsPage],
  ['/services/:id', ServicePage],
  ['/services', ServicesPage],
  ['/jobs/:id', JobPage],
  ['/jobs', JobsPage],
];

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page here. <Link href="/models">Go to the models</Link>.
      </p>
    </section>
  );
}

export function App() {
  const [me, setMe] = useState(null);
  const [checking, setChecking] = useState(Boolean(getToken()));
  const { path } = useLocation();
  const mainRef = useRef(null);

  useEffect(() => onTokenChange((t) => !t && setMe(null)), []);
  useEffect(() => {
    if (!getToken()) return;
    gql(ME)
      .then((d) => setMe(d.me))
      .catch(() => setToken(null))
      .finally(() => setChecking(false));
  }, []);
  useEffect(() => {
    if (path === '/') navigate('/models', { replace: true });
  }, [path]);
  // Move focus to the page heading after navigation, for keyboard and screen reader users.
  useEffect(() => {
    const heading = mainRef.current?.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
  }, [path, me]);

  if (checking) return <p class="muted">Checking your token…</p>;
  if (!me) return <SignIn onSignedIn={setMe} />;

  let page = <NotFound />;
  for (const [pattern, Page] of ROUTES) {
    const params = match(pattern, path);
    if (params) {
      page = <Page key={pattern + (params.id || '')} {...params} me={me} />;
      break;
    }
  }
  const section = path.split('/')[1];
  const nav = [
    ['models', 'Models'],
    ['services', 'Services'],
    ['jobs', 'Batch jobs'],
  ];
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">modelrepo</span>
        <nav aria-label="Main">
          {nav.map(([key, text]) => (
            <Link key={key} href={`/${key}`} aria-current={section === key ? 'page' : undefined}>
              {text}
            </Link>
          ))}
        </nav>
        <span class="who">
          {me.name} <span class="muted">({me.role.toLowerCase()})</span>
          <button type="button" class="ghost small" onClick={() => setToken(null)}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" ref={mainRef}>
        {page}
      </main>
      <Announcer />
    </>
  );
}
