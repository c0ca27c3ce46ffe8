// A real OpenID provider for Warroom's SSO tests: the OpenID-certified `oidc-provider` package
// (version pinned in package.json), on loopback, with its own login and consent pages.
//
// Started by tests/oidc_provider.py:
//   node provider.mjs            (environment below)
//   OIDC_TEST_ACCOUNTS   path of a JSON file {"<login>": {<claims>}}, read at every sign-in, so
//                        a test changes a person's claims (their groups) by rewriting it
//   OIDC_TEST_CLIENT_ID, OIDC_TEST_CLIENT_SECRET, OIDC_TEST_REDIRECT_URIS (comma-separated)
// It prints "listening <issuer>" once it answers.
//
// One test-only endpoint, POST /__test/tamper {"mode": ...}, makes the token endpoint answer
// the way a broken or hostile provider (or someone in between) would, so the tests can check
// that Warroom refuses it: "wrong-issuer", "other-key" (signed by a key that is not published),
// "expired", "other-nonce", "replay" (the ID token of the previous sign-in), "no-id-token", or
// null for the provider's own answer. The provider's protocol handling itself is untouched.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const accountsFile = process.env.OIDC_TEST_ACCOUNTS;
const clientId = process.env.OIDC_TEST_CLIENT_ID;
const clientSecret = process.env.OIDC_TEST_CLIENT_SECRET;
const redirectUris = (process.env.OIDC_TEST_REDIRECT_URIS || '').split(',').filter(Boolean);

function accounts() {
  return JSON.parse(readFileSync(accountsFile, 'utf8'));
}

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
const { privateKey: strangerKey } = await jose.generateKeyPair('RS256', { extractable: true });

let tamper = null;
let lastIdToken = null;

async function resign(idToken, change, key = privateKey) {
  const claims = { ...jose.decodeJwt(idToken) };
  change(claims);
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).sign(key);
}

const tampering = {
  'wrong-issuer': (token) => resign(token, (c) => { c.iss = 'https://issuer.invalid'; }),
  'other-key': (token) => resign(token, () => {}, strangerKey),
  expired: (token) => resign(token, (c) => {
    const now = Math.floor(Date.now() / 1000);
    c.iat = now - 7200;
    c.exp = now - 3600;
  }),
  'other-nonce': (token) => resign(token, (c) => { c.nonce = 'not-the-nonce-warroom-sent'; }),
  replay: async (token) => lastIdToken || token,
};

const server = createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['warroom-test-provider-cookie-key'] },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name', 'given_name', 'family_name', 'locale'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  ttl: {
    AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600,
  },
  async findAccount(ctx, sub) {
    const claims = accounts()[sub];
    if (!claims) return undefined;
    return { accountId: sub, claims: async () => ({ ...claims, sub }) };
  },
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/tamper' && ctx.method === 'POST') {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    ({ mode: tamper } = JSON.parse(Buffer.concat(chunks).toString() || '{}'));
    ctx.body = { mode: tamper };
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    const fresh = ctx.body.id_token;
    if (tamper === 'no-id-token') {
      delete ctx.body.id_token;
    } else if (tamper) {
      ctx.body.id_token = await tampering[tamper](fresh);
    }
    lastIdToken = fresh;
  }
});

server.on('request', provider.callback());
process.stdout.write(`listening ${issuer}\n`);
process.on('SIGTERM', () => { server.close(); process.exit(0); });
