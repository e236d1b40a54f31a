// A local Sigstore for tests/sign_keyless.rs: the Sigstore project's own test doubles
// (@sigstore/mock: Fulcio CA with a CT log, Rekor v1) served over HTTP on 127.0.0.1,
// behind checks the mock leaves out, and a local OIDC issuer.
//
//   node tests/support/sigstore.js      (NODE_PATH = target/peers/sigstore-mock/node_modules)
//
// Prints one JSON line on stdout once listening: {url, issuer, trustedRoot,
// signingConfig, actionsRequestToken}, then serves until killed (or stdin closes).
//
// Routes:
//   POST /oidc/token {sub, aud?, ttl?}        an ES256 ID token from the local issuer
//   GET  /oidc/.well-known/openid-configuration, /oidc/jwks
//   GET  /github/token?audience=A&sub=S          GitHub Actions' ID token request
//                                             (ACTIONS_ID_TOKEN_REQUEST_URL): needs
//                                             `Authorization: Bearer <actionsRequestToken>`,
//                                             answers {"value": <token for S, audience A>}
//   POST /api/v2/signingCert                  Fulcio: the token must verify against the
//                                             issuer's JWKS with audience "sigstore" and the
//                                             proof of possession (an ECDSA-SHA256 signature
//                                             of the token's `sub`) with the request's key
//   POST /expired/api/v2/signingCert          the same, but the certificate's validity ended
//                                             20 minutes ago (the CA's clock is set back)
//   POST /api/v1/log/entries                  Rekor v1: hashedrekord 0.0.1 and dsse 0.0.1
//                                             entries; a dsse entry's envelope must verify
//                                             with its verifiers and is logged as Rekor
//                                             canonicalizes it (hashes, signatures, verifiers)
'use strict';

const http = require('http');
const crypto = require('crypto');
const jose = require('jose');
const mock = require('@sigstore/mock');
const { TrustedRoot, SigningConfig } = require('@sigstore/protobuf-specs');

const MINUTE = 60 * 1000;

async function main() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const issuer = `${url}/oidc`;

  // OIDC issuer.
  const oidcKey = await jose.generateKeyPair('ES256');
  const jwk = { ...(await jose.exportJWK(oidcKey.publicKey)), kid: 'test', alg: 'ES256', use: 'sig' };
  const jwks = jose.createLocalJWKSet({ keys: [jwk] });

  // Fulcio (CA + CT log) and Rekor, from the mock.
  const caKeys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ctKeys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tlogKeys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ctLog = await mock.initializeCTLog(ctKeys);
  const ca = await mock.initializeCA(caKeys, ctLog);
  const tlog = await mock.initializeTLog(url, tlogKeys);
  const fulcio = mock.fulcioHandler(ca);
  const rekor = mock.rekorHandler(tlog);

  // The CA's clock, set back for /expired (the mock CA reads it per certificate).
  const realClock = ca.getCurrentTime;
  const pastClock = () => new Date(Date.now() - 30 * MINUTE);

  const start = new Date(Date.now() - 60 * MINUTE);
  const der = (keyObject) => keyObject.export({ format: 'der', type: 'spki' });
  const trustedRoot = TrustedRoot.toJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{
      baseUrl: url,
      hashAlgorithm: 1, // SHA2_256
      publicKey: { rawBytes: der(tlogKeys.publicKey), keyDetails: 5, validFor: { start } }, // PKIX_ECDSA_P256_SHA_256
      logId: { keyId: crypto.createHash('sha256').update(der(tlogKeys.publicKey)).digest() },
    }],
    certificateAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
      uri: url,
      certChain: { certificates: [{ rawBytes: ca.rootCertificate }] },
      validFor: { start },
    }],
    ctlogs: [{
      baseUrl: url,
      hashAlgorithm: 1,
      publicKey: { rawBytes: der(ctKeys.publicKey), keyDetails: 5, validFor: { start } },
      logId: { keyId: crypto.createHash('sha256').update(der(ctKeys.publicKey)).digest() },
    }],
    timestampAuthorities: [],
  });
  const service = (u) => ({ url: u, majorApiVersion: 1, validFor: { start }, operator: 'local' });
  const signingConfig = SigningConfig.toJSON({
    mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
    caUrls: [service(url)],
    oidcUrls: [service(issuer)],
    rekorTlogUrls: [service(url)],
    tsaUrls: [],
    rekorTlogConfig: { selector: 2, count: 0 }, // ANY
    tsaConfig: { selector: 2, count: 0 },
  });

  async function mintToken(body) {
    const { sub, aud = 'sigstore', ttl = 600 } = JSON.parse(body || '{}');
    if (!sub) throw new Error('sub is required');
    return new jose.SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'test' })
      .setIssuer(issuer)
      .setSubject(sub)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
      .sign(oidcKey.privateKey);
  }

  // What real Fulcio checks and the mock does not: the token and the proof of possession.
  // The token comes in the body or, as sigstore-go sends it, as a bearer token; the
  // request is returned with it in the body, where the mock reads it.
  async function checkSigningCertRequest(body, authorization) {
    const req = JSON.parse(body);
    const bearer = /^Bearer (.+)$/.exec(authorization || '');
    const token = req?.credentials?.oidcIdentityToken || (bearer && bearer[1]);
    if (typeof token !== 'string') throw new Error('an OIDC identity token is required');
    const { payload } = await jose.jwtVerify(token, jwks, { issuer, audience: 'sigstore' });
    const key = req?.publicKeyRequest?.publicKey?.content;
    const pop = req?.publicKeyRequest?.proofOfPossession;
    if (typeof key !== 'string' || typeof pop !== 'string') {
      throw new Error('publicKeyRequest.publicKey.content and proofOfPossession are required');
    }
    const ok = crypto.verify('sha256', Buffer.from(payload.sub), crypto.createPublicKey(key), Buffer.from(pop, 'base64'));
    if (!ok) throw new Error('the proof of possession does not verify');
    return JSON.stringify({ ...req, credentials: { oidcIdentityToken: token } });
  }

  // The entry to log for a proposed one, or an error: hashedrekord as proposed, dsse as
  // Rekor v1 canonicalizes it (rekor pkg/types/dsse/v0.0.1: the envelope replaced by its
  // hash, the payload's hash, and each signature with the key that verified it).
  function checkRekorEntry(body) {
    const e = JSON.parse(body);
    if (e.kind === 'dsse' && e.apiVersion === '0.0.1') return canonicalDsse(e);
    if (e.kind !== 'hashedrekord' || e.apiVersion !== '0.0.1') throw new Error(`unsupported entry ${e.kind} ${e.apiVersion}`);
    const { signature, data } = e.spec || {};
    if (!signature?.content || !signature?.publicKey?.content) throw new Error('spec.signature is incomplete');
    if (data?.hash?.algorithm !== 'sha256' || !/^[0-9a-f]{64}$/.test(data?.hash?.value || '')) {
      throw new Error('spec.data.hash must be a sha256 hex digest');
    }
    // The key or certificate must parse.
    crypto.createPublicKey(Buffer.from(signature.publicKey.content, 'base64').toString());
    return body;
  }

  // A verifier (base64 PEM certificate or public key) in canonical PEM, and its key.
  function parseVerifier(b64) {
    const pem = Buffer.from(b64, 'base64').toString();
    if (pem.includes('BEGIN CERTIFICATE')) {
      const cert = new crypto.X509Certificate(pem);
      return { pem: cert.toString(), key: cert.publicKey };
    }
    const key = crypto.createPublicKey(pem);
    return { pem: key.export({ type: 'spki', format: 'pem' }), key };
  }

  function canonicalDsse(e) {
    const content = e.spec?.proposedContent;
    if (typeof content?.envelope !== 'string' || !Array.isArray(content?.verifiers) || content.verifiers.length === 0) {
      throw new Error('spec.proposedContent needs an envelope and verifiers');
    }
    const envelope = JSON.parse(content.envelope);
    const payload = Buffer.from(envelope.payload || '', 'base64');
    const type = envelope.payloadType || '';
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `),
      payload,
    ]);
    const verifiers = content.verifiers.map(parseVerifier);
    const sigs = envelope.signatures || [];
    if (sigs.length === 0) throw new Error('DSSE envelope must contain 1 or more signatures');
    const signatures = sigs.map((s) => {
      const v = verifiers.find((k) => crypto.verify('sha256', pae, k.key, Buffer.from(s.sig || '', 'base64')));
      if (!v) throw new Error('a DSSE signature does not verify with any verifier');
      return { signature: s.sig, verifier: Buffer.from(v.pem).toString('base64') };
    }).sort((a, b) => (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0));
    const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
    return JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: sha256(content.envelope) },
        payloadHash: { algorithm: 'sha256', value: sha256(payload) },
        signatures,
      },
    });
  }

  // The request token a GitHub Actions runner would hold (ACTIONS_ID_TOKEN_REQUEST_TOKEN).
  const actionsRequestToken = crypto.randomBytes(24).toString('hex');

  const requests = [];
  server.on('request', (req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', async () => {
      const reply = (status, text, type = 'application/json', headers = {}) => {
        res.writeHead(status, { 'Content-Type': type, ...headers });
        res.end(text);
      };
      requests.push(`${req.method} ${req.url}`);
      try {
        const path = req.url.split('?')[0];
        if (req.method === 'POST' && path === '/oidc/token') {
          return reply(200, await mintToken(body), 'text/plain');
        }
        if (req.method === 'GET' && path === '/github/token') {
          if (req.headers.authorization !== `Bearer ${actionsRequestToken}`) {
            return reply(401, JSON.stringify({ message: 'bad request token' }));
          }
          const q = new URL(req.url, url).searchParams;
          const token = await mintToken(JSON.stringify({ sub: q.get('sub'), aud: q.get('audience') }));
          return reply(200, JSON.stringify({ count: token.length, value: token }));
        }
        if (req.method === 'GET' && path === '/oidc/.well-known/openid-configuration') {
          return reply(200, JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
        }
        if (req.method === 'GET' && path === '/oidc/jwks') {
          return reply(200, JSON.stringify({ keys: [jwk] }));
        }
        if (req.method === 'POST' && (path === '/api/v2/signingCert' || path === '/expired/api/v2/signingCert')) {
          let checked;
          try {
            checked = await checkSigningCertRequest(body, req.headers.authorization);
          } catch (e) {
            return reply(401, JSON.stringify({ code: 401, message: String(e.message) }));
          }
          ca.getCurrentTime = path.startsWith('/expired') ? pastClock : realClock;
          const r = await fulcio.fn(checked);
          ca.getCurrentTime = realClock;
          // Fulcio answers 200 (the mock says 201; sigstore-go accepts only 200).
          return reply(r.statusCode === 201 ? 200 : r.statusCode, r.response, r.contentType);
        }
        if (req.method === 'POST' && path === '/api/v1/log/entries') {
          let logged;
          try {
            logged = checkRekorEntry(body);
          } catch (e) {
            return reply(400, JSON.stringify({ code: 400, message: String(e.message) }));
          }
          const r = await rekor.fn(logged);
          // Rekor names the new entry in ETag and Location (rekor's Go client reads ETag).
          const uuid = r.statusCode === 201 ? Object.keys(JSON.parse(r.response))[0] : undefined;
          const headers = uuid ? { ETag: uuid, Location: `/api/v1/log/entries/${uuid}` } : {};
          return reply(r.statusCode, r.response, r.contentType, headers);
        }
        if (req.method === 'GET' && path === '/requests') {
          return reply(200, JSON.stringify(requests));
        }
        reply(404, JSON.stringify({ code: 404, message: `no route ${req.method} ${path}` }));
      } catch (e) {
        reply(500, JSON.stringify({ code: 500, message: String(e && e.message) }));
      }
    });
  });

  process.stdout.write(`${JSON.stringify({ url, issuer, trustedRoot, signingConfig, actionsRequestToken })}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

main().catch((e) => {
  process.stderr.write(`sigstore harness: ${e.stack || e}\n`);
  process.exit(1);
});
