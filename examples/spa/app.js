// gqlauth example single-page app: sign up, sign in, show `me`, refresh
// through the HttpOnly cookie, log out; set up an authenticator app and
// answer its code at sign-in; add a passkey, sign in with it (no
// password) or use it as the second factor; verify the email address and
// reset a forgotten password with the link or code of gqlauth's mails.
// Plain JavaScript, no build step.
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
// (the others answer MFA_REQUIRED). The app then asks for a code, or
// for a passkey when the user has one.
//
// Passkeys (WebAuthn, docs/passkeys.md): gqlauth hands out the options for
// navigator.credentials.create/get as JSON (binary fields in base64url)
// and takes the credential back as JSON. The browser wants ArrayBuffers:
// PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON
// and credential.toJSON() convert where the browser has them, and the few
// lines under "base64url" below do it elsewhere.
//
// While signed in, the app listens to its session's live events (the
// sessionEvents subscription over Server-Sent Events, docs/audit.md): when
// the session is ended elsewhere ("sign out everywhere" on another device,
// an admin's revokeSession, a password change), it signs out at once.
'use strict';

(function () {
  // Same origin as this page. To call gqlauth on another origin, put its
  // URL here and add this page's origin to CORS_ALLOWED_ORIGINS.
  const endpoint = new URL('/graphql', window.location.href).toString();

  const userFields = 'id email emailVerified username firstName lastName role createdAt';
  // The refresh token is deliberately not selected: the cookie carries it.
  const payloadFields = `accessToken expiresIn aal factors { id type friendlyName } user { ${userFields} }`;

  let accessToken = null; // in memory only
  let refreshTimer = null;
  let pendingFactors = []; // the verified factors while a step-up is due
  let enrollingFactor = null; // the factor being set up
  let events = null; // the AbortController of the live session-event stream
  let currentUser = null;

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
      $('mfa-passkey').hidden = !pendingFactors.some((f) => f.type === 'PASSKEY');
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
    watchSession(accessToken);
    loadFactors().catch(showError);
  }

  function endSession(why = 'Signed out.') {
    accessToken = null;
    pendingFactors = [];
    enrollingFactor = null;
    $('totp-setup').hidden = true;
    $('recovery').hidden = true;
    clearTimeout(refreshTimer);
    refreshTimer = null;
    if (events) events.abort();
    events = null;
    $('me').textContent = '';
    $('factors').replaceChildren();
    $('status').textContent = why;
    document.body.dataset.state = 'signed-out';
  }

  // watchSession subscribes to the session's live events over Server-Sent
  // Events (graphql-sse, distinct connections mode: one POST per
  // subscription, Accept: text/event-stream). gqlauth ends the stream
  // after REVOKED and when the access token expires; the next refresh
  // subscribes again with the new token.
  async function watchSession(token) {
    if (events) events.abort();
    const ctl = new AbortController();
    events = ctl;
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'text/event-stream',
          Authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({ query: 'subscription SessionEvents { sessionEvents { type sessionId at } }' }),
        signal: ctl.signal,
      });
      if (!res.ok || !res.body) return;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = message.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).join('\n');
          if (!message.startsWith('event: next') || !data) continue;
          const event = JSON.parse(data).data;
          if (event && event.sessionEvents.type === 'REVOKED' && events === ctl) {
            endSession('Signed out: this session was ended on another device.');
            return;
          }
        }
      }
    } catch (err) {
      if (err.name !== 'AbortError') console.warn('session events:', err);
    }
  }

  function showUser(user) {
    currentUser = user;
    $('me').textContent = JSON.stringify(user, null, 2);
    $('verify-form').hidden = !user.email || user.emailVerified;
    $('verify-status').textContent = user.email
      ? `We mailed a code to ${user.email} when you signed up.` : '';
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
  // authenticator app, or a recovery code (factorId left out). gqlauth
  // replaces the refresh cookie; the session keeps its id.
  async function verifyMfa(code) {
    code = code.trim();
    const recovery = code.replace(/\s/g, '').length > 6;
    const totp = pendingFactors.find((f) => f.type === 'TOTP');
    const data = await gql(
      `mutation VerifyMfa($factorId: ID, $code: String!) { verifyMfa(factorId: $factorId, code: $code) { ${payloadFields} } }`,
      { factorId: recovery || !totp ? null : totp.id, code },
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
    showRecoveryCodes(data.verifyTotpEnrollment);
    await refresh();
  }

  // newRecoveryCodes makes a new set (the old one stops working). A user
  // whose first factor is a passkey gets none until they ask here.
  async function newRecoveryCodes() {
    const data = await gql('mutation RegenerateRecoveryCodes { regenerateRecoveryCodes }');
    showRecoveryCodes(data.regenerateRecoveryCodes);
  }

  function showRecoveryCodes(codes) {
    $('recovery-codes').textContent = codes.join('\n');
    $('recovery').hidden = codes.length === 0;
  }

  // Passkeys. base64url ↔ ArrayBuffer, for browsers without WebAuthn's
  // JSON helpers (parse…FromJSON, toJSON): only these fields are binary.
  const fromBase64url = (s) =>
    Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)).buffer;
  const toBase64url = (buf) =>
    btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const withBinaryIds = (list) => (list || []).map((c) => ({ ...c, id: fromBase64url(c.id) }));

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      user: { ...json.user, id: fromBase64url(json.user.id) },
      excludeCredentials: withBinaryIds(json.excludeCredentials),
    };
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: withBinaryIds(json.allowCredentials) };
  }

  // credentialJSON is what gqlauth takes back: the credential with its
  // binary fields in base64url (RegistrationResponseJSON or
  // AuthenticationResponseJSON).
  function credentialJSON(credential) {
    if (credential.toJSON) return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) { // create()
      response.attestationObject = toBase64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else { // get()
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment,
      clientExtensionResults: credential.getClientExtensionResults(),
      response,
    };
  }

  // addPasskey registers a passkey of this device (or a phone) for the
  // signed-in user. Like enrollTotp it needs a recent sign-in
  // (REAUTHENTICATION_REQUIRED otherwise). The refresh after it brings the
  // session's new assurance level.
  async function addPasskey(friendlyName) {
    const begin = await gql(
      'mutation BeginPasskeyRegistration($name: String) { beginPasskeyRegistration(friendlyName: $name) { challengeId options } }',
      { name: friendlyName.trim() || null },
    );
    const { challengeId, options } = begin.beginPasskeyRegistration;
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
    await gql(
      'mutation FinishPasskeyRegistration($challengeId: ID!, $credential: JSON!) { finishPasskeyRegistration(challengeId: $challengeId, credential: $credential) { id } }',
      { challengeId, credential: credentialJSON(credential) },
    );
    $('passkey-name').value = '';
    await refresh();
  }

  // usePasskey signs in with a passkey, no password. Without an email the
  // browser offers the passkeys it has for this site (discoverable
  // credentials). Called with the AAL1 access token of a password sign-in
  // in hand, it is the second factor: gql sends the token, and gqlauth
  // steps that session up to AAL2 instead of starting a new one.
  async function usePasskey(email) {
    const begin = await gql(
      'mutation BeginPasskeySignIn($email: String) { beginPasskeySignIn(email: $email) { challengeId options } }',
      { email: email || null },
    );
    const { challengeId, options } = begin.beginPasskeySignIn;
    const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
    const data = await gql(
      `mutation FinishPasskeySignIn($challengeId: ID!, $credential: JSON!) {
        finishPasskeySignIn(challengeId: $challengeId, credential: $credential) { ${payloadFields} } }`,
      { challengeId, credential: credentialJSON(credential) },
    );
    startSession(data.finishPasskeySignIn);
  }

  // loadFactors lists the user's authenticator apps and passkeys, each
  // with a button that removes it (removeFactor: a recent sign-in, and
  // AAL2 when the user has a factor).
  async function loadFactors() {
    const data = await gql('query Factors { factors { id type friendlyName status backedUp createdAt } }');
    const verified = data.factors.filter((f) => f.status === 'VERIFIED');
    $('recovery-button').hidden = verified.length === 0;
    $('factors').replaceChildren(...verified.map((f) => {
      const item = document.createElement('li');
      // backedUp: a synced passkey (a password manager's), not bound to one device.
      const kind = f.type === 'TOTP' ? 'Authenticator app' : f.backedUp ? 'Passkey (synced)' : 'Passkey';
      item.textContent = `${kind}: ${f.friendlyName || 'unnamed'}, added ${new Date(f.createdAt).toLocaleDateString()} `;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Remove';
      remove.dataset.factorId = f.id;
      item.append(remove);
      return item;
    }));
  }

  async function removeFactor(id) {
    await gql('mutation RemoveFactor($id: ID!) { removeFactor(id: $id) }', { id });
    await loadFactors();
  }

  // logout ends this session on the server; gqlauth clears both cookies.
  async function logout() {
    try {
      await gql('mutation Logout { logout }', undefined, { useCookie: true });
    } finally {
      endSession();
    }
  }

  // logoutEverywhere ends every session of the user, on every device.
  async function logoutEverywhere() {
    try {
      await gql('mutation LogoutEverywhere { logout(scope: GLOBAL) }', undefined, { useCookie: true });
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

  // The email flows. The mails carry a link (to this page, with
  // #action=…&token=… when EMAIL_LINK_PATH points here) and a 6-digit code.

  async function sendVerification() {
    await gql('mutation SendVerificationEmail { sendVerificationEmail }');
    $('verify-status').textContent = `A new code is on its way to ${currentUser.email}.`;
  }

  async function verifyWithCode(code) {
    await gql('mutation VerifyEmail($email: String, $code: String) { verifyEmail(email: $email, code: $code) }',
      { email: currentUser.email, code });
    await loadMe();
  }

  async function requestReset(email) {
    // The answer is the same whether or not the address has an account.
    await gql('mutation RequestPasswordReset($email: String!) { requestPasswordReset(email: $email) }', { email });
    $('status').textContent = 'If an account uses this address, a mail with a link and a code is on its way.';
    $('reset-code-form').hidden = false;
  }

  async function resetPassword(vars) {
    const data = await gql(
      `mutation ResetPassword($token: String, $email: String, $code: String, $newPassword: String!) {
        resetPassword(token: $token, email: $email, code: $code, newPassword: $newPassword) { ${payloadFields} } }`,
      vars,
    );
    history.replaceState(null, '', window.location.pathname);
    startSession(data.resetPassword);
  }

  async function verifyWithLink(token) {
    await gql('mutation VerifyEmail($token: String) { verifyEmail(token: $token) }', { token });
    history.replaceState(null, '', window.location.pathname);
    $('verify-link-form').hidden = true;
    await restore();
    $('status').textContent = 'Your email address is verified.';
  }

  // fromLink shows the form for a link's action, and reports whether the
  // page was opened from one.
  let linkToken = '';
  function fromLink() {
    const params = new URLSearchParams(window.location.hash.slice(1));
    linkToken = params.get('token') || '';
    const form = { 'reset-password': 'reset-link-form', 'verify-email': 'verify-link-form' }[params.get('action')];
    if (!linkToken || !form) return false;
    $(form).hidden = false;
    $('status').textContent = '';
    document.body.dataset.state = 'link';
    return true;
  }

  function on(id, event, handler) {
    $(id).addEventListener(event, async (e) => {
      e.preventDefault();
      clearError();
      try {
        await handler(e);
      } catch (err) {
        showError(err);
      }
    });
  }

  on('signup-form', 'submit', () => signUp($('signup-email').value, $('signup-password').value));
  on('signin-form', 'submit', () => signIn($('signin-email').value, $('signin-password').value));
  on('passkey-signin-button', 'click', () => usePasskey($('signin-email').value));
  on('mfa-passkey-button', 'click', () => usePasskey());
  on('passkey-form', 'submit', () => addPasskey($('passkey-name').value));
  on('factors', 'click', (e) => e.target.dataset.factorId && removeFactor(e.target.dataset.factorId));
  on('me-button', 'click', loadMe);
  on('refresh-button', 'click', refresh);
  on('logout-button', 'click', logout);
  on('mfa-form', 'submit', () => verifyMfa($('mfa-code').value));
  on('mfa-cancel', 'click', logout);
  on('totp-setup-button', 'click', enrollTotp);
  on('totp-verify-form', 'submit', () => verifyTotpEnrollment($('totp-code').value));
  on('recovery-button', 'click', newRecoveryCodes);
  on('logout-everywhere-button', 'click', logoutEverywhere);
  on('send-verification', 'click', sendVerification);
  on('verify-form', 'submit', () => verifyWithCode($('verify-code').value));
  on('forgot-form', 'submit', () => requestReset($('forgot-email').value));
  on('reset-code-form', 'submit', () => resetPassword({
    email: $('forgot-email').value, code: $('reset-code').value, newPassword: $('reset-code-password').value,
  }));
  on('reset-link-form', 'submit', () => resetPassword({ token: linkToken, newPassword: $('reset-link-password').value }));
  on('verify-link-form', 'submit', () => verifyWithLink(linkToken));

  if (!fromLink()) restore();
  // A link opened in a tab that already shows the app changes the hash only.
  window.addEventListener('hashchange', fromLink);
})();
