// The console talks to /graphql only: queries and mutations over HTTP (uploads as GraphQL
// multipart requests), subscriptions over graphql-transport-ws with the token in
// connection_init (browsers cannot set headers on a websocket).
import { createClient } from 'graphql-ws';

const KEY = 'modelrepo.token';
const listeners = new Set();

export const getToken = () => sessionStorage.getItem(KEY);

export function setToken(token) {
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
  if (!token && client) {
    client.dispose();
    client = null;
  }
  listeners.forEach((fn) => fn(token));
}

export function onTokenChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export class ApiError extends Error {}

function authHeader(token = getToken()) {
  return { authorization: `Bearer ${token}` };
}

function unpack(status, body) {
  if (status === 401) {
    setToken(null);
    throw new ApiError('The server refused the token: sign in again.');
  }
  if (!body) throw new ApiError(`The server answered HTTP ${status}.`);
  if (body.errors && body.errors.length) {
    throw new ApiError(body.errors.map((e) => e.message).join('; '));
  }
  return body.data;
}

export async function gql(query, variables = {}, token = undefined) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader(token ?? getToken()) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => null);
  return unpack(response.status, body);
}

// One file at `path` (e.g. "input.version.files.upload"), with progress from 0 to 1.
export function gqlUpload(query, variables, path, file, onProgress) {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables }));
  form.append('map', JSON.stringify({ 0: [`variables.${path}`] }));
  form.append('0', file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/graphql');
    xhr.setRequestHeader('authorization', authHeader().authorization);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError('The upload failed: the connection was lost.'));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 413) {
        reject(new ApiError(body?.errors?.[0]?.message || 'The file is too large.'));
        return;
      }
      try {
        onProgress(1);
        resolve(unpack(xhr.status, body));
      } catch (err) {
        reject(err);
      }
    };
    xhr.send(form);
  });
}

let client = null;

function wsClient() {
  if (!client) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    client = createClient({
      url: `${scheme}://${location.host}/graphql`,
      connectionParams: () => ({ Authorization: `Bearer ${getToken()}` }),
      lazy: true,
      retryAttempts: 0,
    });
  }
  return client;
}

// Follows a cursor-resumable subscription: on a lost connection it subscribes again from the
// last cursor it saw, so nothing is missed and nothing comes twice. Returns a stop function.
export function follow(query, variables, field, onUpdate, onState = () => {}) {
  let cursor = variables.after ?? null;
  let stopped = false;
  let unsubscribe = () => {};
  let timer = null;
  const start = () => {
    if (stopped) return;
    onState('connecting');
    unsubscribe = wsClient().subscribe(
      { query, variables: { ...variables, after: cursor } },
      {
        next: (value) => {
          if (value.errors) {
            onState('error', value.errors.map((e) => e.message).join('; '));
            return;
          }
          const update = value.data[field];
          cursor = update.cursor;
          onState('live');
          onUpdate(update);
        },
        error: () => {
          onState('reconnecting');
          timer = setTimeout(start, 1000);
        },
        complete: () => {
          if (!stopped) timer = setTimeout(start, 1000);
        },
      },
    );
  };
  start();
  return () => {
    stopped = true;
    clearTimeout(timer);
    unsubscribe();
  };
}

const LINK = `mutation($id: ID!, $path: String) {
  versionDownloadLink(versionId: $id, path: $path) {
    __typename ... on DownloadLink { url } ... on Error { message }
  }
}`;

// Downloads go to disk, not into page memory: the server mints a short-lived signed link
// (no token needed) and the browser follows it. A presigned S3 URL (another origin) is
// opened directly. `path`: one file of the active file set; none: the package as a zip.
export async function download(versionId, path = null, url = null) {
  if (url && new URL(url, location.href).origin !== location.origin) {
    window.open(url, '_blank', 'noopener');
    return;
  }
  const data = await gql(LINK, { id: versionId, path });
  const result = data.versionDownloadLink;
  if (result.__typename !== 'DownloadLink') throw new ApiError(result.message);
  const link = document.createElement('a');
  link.href = result.url;
  link.download = '';
  document.body.append(link);
  link.click();
  link.remove();
}
