// gqlauth's playground: GraphiQL with every operation in a ready example
// document, and a headers editor for the bearer token. The page hands
// this script its settings as JSON (#playground-config) and loads React,
// ReactDOM and GraphiQL before it, from gqlauth itself.
(function () {
  'use strict';

  const root = document.getElementById('graphiql');
  const config = JSON.parse(document.getElementById('playground-config').textContent);
  const url = new URL(config.endpoint, window.location.href).toString();

  // Never leave the page at "Loading GraphiQL…": if a file did not load
  // (blocked by an extension or a proxy, or failed its integrity check),
  // say which, and where the schema and the endpoint are.
  const missing = ['React', 'ReactDOM', 'GraphiQL'].filter((name) => typeof window[name] === 'undefined');
  if (missing.length > 0) {
    const box = document.createElement('div');
    box.className = 'failed';
    box.setAttribute('role', 'alert');
    const title = document.createElement('h1');
    title.textContent = 'The playground could not start';
    const why = document.createElement('p');
    why.textContent = `${missing.join(', ')} did not load from ${window.location.origin}/playground/ ` +
      '(the browser console says why). Reload the page; if it persists, a proxy or an extension may block these files.';
    const instead = document.createElement('p');
    instead.append('Meanwhile, POST GraphQL to ', Object.assign(document.createElement('code'), { textContent: url }),
      '; the schema is at ', Object.assign(document.createElement('a'), { href: '/schema.graphql', textContent: '/schema.graphql' }), '.');
    box.append(title, why, instead);
    root.replaceChildren(box);
    return;
  }

  function csrfToken() {
    for (const part of document.cookie.split(';')) {
      const [name, ...rest] = part.trim().split('=');
      if (name === 'gqlauth_csrf') return decodeURIComponent(rest.join('='));
    }
    return '';
  }

  // The fetcher sends the session cookies and echoes the CSRF cookie in
  // X-CSRF-Token, so refresh and logout work through the cookie too.
  async function fetcher(params, opts) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    const csrf = csrfToken();
    if (csrf) headers['X-CSRF-Token'] = csrf;
    Object.assign(headers, (opts && opts.headers) || {});
    const res = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers,
      body: JSON.stringify(params),
    });
    return res.json();
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: config.defaultQuery,
      defaultHeaders: config.defaultHeaders,
      defaultTabs: [{ query: config.defaultQuery, variables: config.defaultVariables, headers: config.defaultHeaders }],
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      // Headers hold bearer tokens: keep them out of localStorage.
      shouldPersistHeaders: false,
    }),
  );
})();
