// jwks-verify.mjs verifies a gqlauth access token the way a Node service
// would, with the jose package: the keys come from gqlauth's JWKS
// (createRemoteJWKSet), and jwtVerify checks the signature, the algorithm
// against the key's, typ, iss, aud and exp. internal/e2e runs it against
// a live server.
//
//   node jwks-verify.mjs <jwks url> <issuer> <audience> <token>
//
// It prints the protected header and the claims as JSON and exits 0, or
// prints the error's code and exits 1.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksURL, issuer, audience, token] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksURL));
try {
  const { protectedHeader, payload } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['ES256', 'EdDSA', 'RS256'],
    clockTolerance: 5,
  });
  console.log(JSON.stringify({ protectedHeader, payload }));
} catch (err) {
  console.log(JSON.stringify({ error: err.code ?? err.name, message: err.message }));
  process.exit(1);
}
