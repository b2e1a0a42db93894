// gqlauth example single-page app: sign up, sign in, show `me`, refresh
// through the HttpOnly cookie, log out; set up an authenticator app and
// answer its code at sign-in. Plain JavaScript, no build step.
//
// Where the tokens live:
// - The access token is kept in the `accessToken` variable below, in
//   memory only: never in localStorage or sessionStorage, where any script
//   injected into the page could read it later. A reload forgets it.
// - The refresh token is an HttpOnly cookie (gqlauth_refresh, path
//   /graphql) that this page cannot read. The browser sends it with
//   requests to /graphql; gqlauth honours it only when the request also
//   carries the readable gqlauth_csrf cookie's value in the X-CSRF-Token
//   header, which another site cannot set (double-submit cookie).
// - On page load the app calls `refresh` through the cookie to get a new
//   access token: that is how a reload keeps the user signed in.
//
// Second factors (docs/mfa.md): a payload with aal AAL1 and a non-empty
// factors list means the session must step up with verifyMfa before
// anything but me, factors, verifyMfa, refresh, logout and sessions works
// (the others answer MFA_REQUIRED). The app then asks for a code.
'use strict';

(function () {
  // Same origin as this page. To call gqlauth on another origin, put its
  // URL here and add this page's origin to CORS_ALLOWED_ORIGINS.
  const endpoint = new URL('/graphql', window.location.href).toString();

  const userFields = 'id email username firstName lastName role createdAt';
  // The refresh token is deliberately not selected: the cookie carries it.
  const payloadFields = `accessToken expiresIn aal factors { id friendlyName } user { ${userFields} }`;

  let accessToken = null; // in memory only
  let refreshTimer = null;
  let pendingFactors = []; // the verified factors while a step-up is due
  let enrollingFactor = null; // the factor being set up

  const $ = (id) => document.getElementById(id);

  // csrfToken reads the readable CSRF cookie gqlauth set with the session.
  function csrfToken() {
    for (const part of document.cookie.split(';')) {
      const [name, ...rest] = part.trim().split('=');
      if (name === 'gqlauth_csrf') return decodeURIComponent(rest.join('='));
    }
    return '';
  }

  // GraphQLError carries gqlauth's extensions.code (UNAUTHENTICATED, ...).
  class GraphQLError extends Error {
    constructor(error) {
      super(error.message);
      this.code = (error.extensions && error.extensions.code) || 'UNKNOWN';
    }
  }

  // gql posts one operation as JSON. It adds the bearer token when there is
  // one, and the CSRF header when the operation may use the refresh cookie.
  async function gql(query, variables, { useCookie = false } = {}) {
    const headers = { 'Content-Type': 'application/json' };
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    if (useCookie) headers['X-CSRF-Token'] = csrfToken();
    const res = await fetch(endpoint, {
      method: 'POST',
      credentials: 'include', // send and accept the session cookies
      headers,
      body: JSON.stringify({ query, variables }),
    });
    const body = await res.json();
    if (body.errors && body.errors.length) throw new GraphQLError(body.errors[0]);
    return body.data;
  }

  // startSession keeps a new access token and schedules the next refresh a
  // minute before it expires.
  function startSession(payload) {
    accessToken = payload.accessToken;
    clearTimeout(refreshTimer);
    const ms = Math.max(5, payload.expiresIn - 60) * 1000;
    refreshTimer = setTimeout(() => refresh().catch(showError), ms);
    if (payload.aal === 'AAL1' && payload.factors.length > 0) {
      // Signed in with the password only: ask for the second factor.
      pendingFactors = payload.factors;
      $('status').textContent = 'Enter your second factor to finish signing in.';
      document.body.dataset.state = 'mfa';
      $('mfa-code').focus();
      return;
    }
    pendingFactors = [];
    $('aal').textContent = payload.aal === 'AAL2'
      ? 'This session is verified with a second factor (AAL2).'
      : 'This session is signed in with a password only (AAL1).';
    showUser(payload.user);
  }

  function endSession() {
    accessToken = null;
    pendingFactors = [];
    enrollingFactor = null;
    $('totp-setup').hidden = true;
    $('recovery').hidden = true;
    clearTimeout(refreshTimer);
    refreshTimer = null;
    $('me').textContent = '';
    $('status').textContent = 'Signed out.';
    document.body.dataset.state = 'signed-out';
  }

  function showUser(user) {
    $('me').textContent = JSON.stringify(user, null, 2);
    $('status').textContent = `Signed in as ${user.email || user.username}.`;
    document.body.dataset.state = 'signed-in';
  }

  function showError(err) {
    $('error').textContent = err.code ? `${err.code}: ${err.message}` : String(err);
  }

  function clearError() {
    $('error').textContent = '';
  }

  async function signUp(email, password) {
    const data = await gql(
      `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { ${payloadFields} } }`,
      { input: { email, password } },
    );
    startSession(data.signUp);
  }

  async function signIn(email, password) {
    const data = await gql(
      `mutation SignIn($input: SignInInput!) { signIn(input: $input) { ${payloadFields} } }`,
      { input: { email, password } },
    );
    startSession(data.signIn);
  }

  async function loadMe() {
    const data = await gql(`query Me { me { ${userFields} } }`);
    showUser(data.me);
  }

  // refresh trades the refresh cookie for a new access token (and a new
  // cookie: gqlauth rotates the refresh token on every use).
  async function refresh() {
    const data = await gql(
      `mutation Refresh { refresh { ${payloadFields} } }`,
      undefined,
      { useCookie: true },
    );
    startSession(data.refresh);
  }

  // verifyMfa steps the session up to AAL2: a TOTP code of the first
  // factor, or a recovery code (factorId left out). gqlauth replaces the
  // refresh cookie; the session keeps its id.
  async function verifyMfa(code) {
    code = code.trim();
    const recovery = code.replace(/\s/g, '').length > 6;
    const data = await gql(
      `mutation VerifyMfa($factorId: ID, $code: String!) { verifyMfa(factorId: $factorId, code: $code) { ${payloadFields} } }`,
      { factorId: recovery ? null : pendingFactors[0].id, code },
    );
    $('mfa-code').value = '';
    startSession(data.verifyMfa);
  }

  // enrollTotp starts setting up an authenticator app: gqlauth returns the
  // secret and its QR code (a data: URL of a PNG), shown once.
  async function enrollTotp() {
    const data = await gql(
      'mutation EnrollTotp { enrollTotp(friendlyName: "Example app") { factor { id } secret qrCode } }',
    );
    enrollingFactor = data.enrollTotp.factor.id;
    $('totp-qr').src = data.enrollTotp.qrCode;
    $('totp-secret').textContent = data.enrollTotp.secret;
    $('totp-setup').hidden = false;
    $('recovery').hidden = true;
    $('totp-code').focus();
  }

  // verifyTotpEnrollment confirms the app with its first code. The
  // recovery codes come back once; the session is AAL2 from the next
  // refresh, which the app makes at once.
  async function verifyTotpEnrollment(code) {
    const data = await gql(
      'mutation VerifyTotpEnrollment($factorId: ID!, $code: String!) { verifyTotpEnrollment(factorId: $factorId, code: $code) }',
      { factorId: enrollingFactor, code: code.trim() },
    );
    enrollingFactor = null;
    $('totp-setup').hidden = true;
    $('totp-code').value = '';
    const codes = data.verifyTotpEnrollment;
    $('recovery-codes').textContent = codes.join('\n');
    $('recovery').hidden = codes.length === 0;
    await refresh();
  }

  // logout ends this session on the server; gqlauth clears both cookies.
  async function logout() {
    try {
      await gql('mutation Logout { logout }', undefined, { useCookie: true });
    } finally {
      endSession();
    }
  }

  // restore tries to resume the session after a page load. Without the
  // CSRF cookie there is no session to resume, so no request is made.
  async function restore() {
    if (!csrfToken()) {
      endSession();
      return;
    }
    try {
      await refresh();
    } catch (err) {
      endSession();
      if (err.code !== 'UNAUTHENTICATED') showError(err);
    }
  }

  function on(id, event, handler) {
    $(id).addEventListener(event, async (e) => {
      e.preventDefault();
      clearError();
      try {
        await handler();
      } catch (err) {
        showError(err);
      }
    });
  }

  on('signup-form', 'submit', () => signUp($('signup-email').value, $('signup-password').value));
  on('signin-form', 'submit', () => signIn($('signin-email').value, $('signin-password').value));
  on('me-button', 'click', loadMe);
  on('refresh-button', 'click', refresh);
  on('logout-button', 'click', logout);
  on('mfa-form', 'submit', () => verifyMfa($('mfa-code').value));
  on('mfa-cancel', 'click', logout);
  on('totp-setup-button', 'click', enrollTotp);
  on('totp-verify-form', 'submit', () => verifyTotpEnrollment($('totp-code').value));

  restore();
})();
