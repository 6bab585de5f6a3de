// A real OpenID Provider for the archive's sign-in tests: panva's oidc-provider (OpenID
// Certified), unmodified, over HTTPS, with one confidential client that must use PKCE.
// tests/oidc/provider.py starts it with a JSON config path as the only argument:
//   {"port", "issuer", "cert_file", "key_file", "client_id", "client_secret", "redirect_uri",
//    "accounts": {"<login>": {"email", "groups": [...]}}}
// Its development login page signs in whoever types a known login (any password).
// A test-only route plays a tampered network: POST /__test__/tamper?mode=aud|iss|sig makes the
// next token response carry an ID token for another audience, from another issuer, or signed
// with a key that is not the provider's. Everything else is the provider as shipped.
import { readFileSync } from "node:fs";
import https from "node:https";

import { SignJWT, exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: "test-key-1", alg: "RS256", use: "sig" };
const impostor = (await generateKeyPair("RS256", { extractable: true })).privateKey;

const provider = new Provider(config.issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  pkce: { required: () => true },
  jwks: { keys: [signingKey] },
  cookies: { keys: ["a test provider's cookie key"] },
  claims: { openid: ["sub"], email: ["email", "email_verified"], groups: ["groups"] },
  scopes: ["openid", "email", "groups"],
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const account = config.accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, email_verified: true, groups: account.groups ?? [] };
      },
    };
  },
  // A first-party client: no consent screen, the grant is made on the spot.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid email groups");
    await grant.save();
    return grant;
  },
});

let tamper = null;
provider.use(async (ctx, next) => {
  if (ctx.path === "/__test__/tamper" && ctx.method === "POST") {
    tamper = ctx.query.mode || null;
    ctx.body = { tamper };
    return;
  }
  await next();
  if (tamper && ctx.path === "/token" && ctx.body?.id_token) {
    ctx.body = { ...ctx.body, id_token: await forge(ctx.body.id_token, tamper) };
    tamper = null; // one response only
  }
});

async function forge(idToken, mode) {
  const claims = JSON.parse(Buffer.from(idToken.split(".")[1], "base64url").toString());
  if (mode === "aud") claims.aud = "another-application";
  if (mode === "iss") claims.iss = "https://impostor.example";
  const key = mode === "sig" ? impostor : privateKey;
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: signingKey.kid }).sign(key);
}

const tls = { cert: readFileSync(config.cert_file), key: readFileSync(config.key_file) };
https.createServer(tls, provider.callback()).listen(config.port, "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
