// The page that links in gqlauth's mails open when APP_URL points at
// gqlauth itself (EMAIL_LINK_PATH). The token is in the fragment
// (#action=…&token=…), which browsers never send to a server. Opening the
// page spends nothing: a mail scanner that follows the link only loads
// it. A person spends the token by pressing the button, which POSTs the
// GraphQL mutation.
'use strict';

(function () {
  const endpoint = new URL('/graphql', window.location.href).toString();
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(window.location.hash.slice(1));
  const action = params.get('action') || '';
  const token = params.get('token') || '';
  // Keep the token out of the history and of anything that reads the URL.
  if (window.location.hash) history.replaceState(null, '', window.location.pathname + window.location.search);

  async function gql(query, variables) {
    const res = await fetch(endpoint, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const body = await res.json();
    if (body.errors && body.errors.length) {
      const e = body.errors[0];
      const fields = (e.extensions && e.extensions.fields) || {};
      const detail = Object.keys(fields).map((k) => `${k} ${fields[k]}`).join('; ');
      throw new Error(detail || e.message);
    }
    return body.data;
  }

  function show(id, title, intro) {
    $('title').textContent = title;
    $('intro').textContent = intro;
    if (id) $(id).hidden = false;
    document.body.dataset.state = 'ready';
  }

  function finish(form, message) {
    form.hidden = true;
    $('error').textContent = '';
    $('done').textContent = message;
    document.body.dataset.state = 'done';
  }

  function handle(form, run) {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const button = form.querySelector('button');
      button.disabled = true;
      try {
        finish(form, await run());
      } catch (err) {
        $('error').textContent = err.message;
        document.body.dataset.state = 'error';
      } finally {
        button.disabled = false;
      }
    });
  }

  handle($('verify-email'), async () => {
    await gql('mutation($t: String) { verifyEmail(token: $t) }', { t: token });
    return 'Your email address is verified. You can close this page.';
  });

  handle($('confirm-email-change'), async () => {
    const d = await gql('mutation($t: String) { confirmEmailChange(token: $t) { email } }', { t: token });
    return `Your account's email address is now ${d.confirmEmailChange.email}.`;
  });

  handle($('reset-password'), async () => {
    const vars = { p: $('reset-password-input').value };
    if (token) vars.t = token;
    else Object.assign(vars, { e: $('reset-email').value, c: $('reset-code').value });
    await gql('mutation($t: String, $e: String, $c: String, $p: String!) { resetPassword(token: $t, email: $e, code: $c, newPassword: $p) { user { email } } }', vars);
    return 'Your password was changed, and every session of your account was signed out. Sign in with the new password.';
  });

  handle($('forgot-password'), async () => {
    const email = $('forgot-email').value;
    await gql('mutation($e: String!) { requestPasswordReset(email: $e) }', { e: email });
    // The answer is the same whether or not the address has an account.
    $('reset-email').value = email;
    $('reset-email-row').hidden = false;
    $('reset-code-row').hidden = false;
    $('reset-code').required = true;
    $('reset-password').hidden = false;
    return 'If an account uses this address, a mail with a link and a code is on its way. Enter the code below, or open the link.';
  });

  // Another link opened in this tab changes the hash only: start over.
  window.addEventListener('hashchange', () => window.location.reload());

  switch (action) {
    case 'verify-email':
      if (token) { show('verify-email', 'Verify your email address', 'Press the button to confirm that this address is yours.'); break; }
    // falls through
    case 'confirm-email-change':
      if (token) { show('confirm-email-change', 'Confirm your new email address', 'Press the button to make this address your account\u2019s.'); break; }
    // falls through
    case 'reset-password':
      if (token) { show('reset-password', 'Choose a new password', 'Every session of your account will be signed out.'); break; }
    // falls through
    case 'forgot-password':
      show('forgot-password', 'Forgot your password?', 'Enter your email address: if it has an account, we mail it a link and a code.');
      break;
    default:
      show(null, 'Nothing to do here', 'This page opens the links in mails. Open the link from your mail again.');
  }
})();
