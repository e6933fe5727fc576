// A real OpenID Connect provider (panva's oidc-provider) on loopback for vulntrail's tests.
// Configured by environment:
//   PORT           port on 127.0.0.1 (required)
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI   the confidential client (client_secret_basic)
//   EXTRA_CLIENTS  JSON list of more clients: [{client_id, client_secret, redirect_uris}]
//   USERS          JSON: {"alice": {"password": "…", "claims": {"email": …, "groups": […]}}}
//   ID_TOKEN_TTL   ID token lifetime in seconds (default 3600)
// The login page is our own (devInteractions would accept any name without a password).
import crypto from 'node:crypto';
import express from 'express';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT);
const ISSUER = process.env.ISSUER || `http://127.0.0.1:${PORT}`;
const USERS = JSON.parse(process.env.USERS || '{}');
const client = (id, secret, uris) => ({
  client_id: id, client_secret: secret, redirect_uris: uris,
  grant_types: ['authorization_code'], response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
});
const clients = [client(process.env.CLIENT_ID, process.env.CLIENT_SECRET,
  (process.env.REDIRECT_URI || '').split(',').filter(Boolean))];
for (const c of JSON.parse(process.env.EXTRA_CLIENTS || '[]')) {
  clients.push(client(c.client_id, c.client_secret, c.redirect_uris));
}
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

const provider = new Provider(ISSUER, {
  clients,
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'], groups: ['groups'] },
  conformIdTokenClaims: false, // scope claims (groups) in the ID token, not only at userinfo
  findAccount: async (ctx, id) => USERS[id] && { accountId: id, claims: async () => ({ sub: id, ...USERS[id].claims }) },
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-k1', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: ['test-only-cookie-key'] },
  ttl: { IdToken: Number(process.env.ID_TOKEN_TTL || 3600) },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const app = express();
app.get('/interaction/:uid', async (req, res, next) => {
  try {
    const { uid, params } = await provider.interactionDetails(req, res);
    res.type('html').send(`<!doctype html><title>Test IdP login</title>
<h1>Sign in to ${escape(params.client_id)}</h1>
<form method="post" action="/interaction/${uid}/login">
<label>Username <input name="login" autofocus></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`);
  } catch (err) { next(err); }
});
const form = express.urlencoded({ extended: false });
app.post('/interaction/:uid/login', form, async (req, res, next) => {
  try {
    const { params } = await provider.interactionDetails(req, res);
    const user = USERS[req.body.login];
    if (!user || user.password !== req.body.password) {
      return await provider.interactionFinished(req, res,
        { error: 'access_denied', error_description: 'bad credentials' }, { mergeWithLastSubmission: false });
    }
    const grant = new provider.Grant({ accountId: req.body.login, clientId: params.client_id });
    grant.addOIDCScope(params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res,
      { login: { accountId: req.body.login }, consent: { grantId } }, { mergeWithLastSubmission: false });
  } catch (err) { next(err); }
});
app.post('/interaction/:uid/abort', form, async (req, res, next) => {
  try {
    await provider.interactionFinished(req, res,
      { error: 'access_denied', error_description: 'the user cancelled' }, { mergeWithLastSubmission: false });
  } catch (err) { next(err); }
});
app.use(provider.callback());
app.listen(PORT, '127.0.0.1', () => console.log(`oidc-provider listening on ${ISSUER}`));
