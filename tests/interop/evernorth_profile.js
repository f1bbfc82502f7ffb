'use strict'
// A UDAP server for interop tests that applies the checks of the Evernorth/Okta reference server
// (github: Evernorth/hl7-fhir-udap-server + hl7-fhir-udap-common, not published to npm) with the
// same third-party libraries it uses: njwt verifies JWTs, node-forge parses certificates and
// verifies the chain (built only through AIA, x5c[0] only), pkijs reads the anchor's CRL.  The
// OAuth platform behind it (Okta in the original) is mocked here with jose: private_key_jwt
// against the key registered from x5c.  Written from reading that server's behaviour, not copied.
//
// Usage: node evernorth_profile.js CONFIG.json   (one JSON line on stdout once listening)
// The signing key is an encrypted PKCS#8 PEM; its passphrase comes in UDAP_INTEROP_KEY_PASS.

const fs = require('fs')
const http = require('http')
const crypto = require('crypto')
const forge = require('node-forge')
const njwt = require('njwt')
const asn1js = require('asn1js')
const pkijs = require('pkijs')
const pvutils = require('pvutils')
const jose = require('jose')

const pki = forge.pki
const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf-8'))
const anchor = pki.certificateFromPem(fs.readFileSync(cfg.anchor_pem, 'utf-8'))
const serverKey = crypto.createPrivateKey({ key: fs.readFileSync(cfg.server_key_pem), format: 'pem',
                                            passphrase: process.env.UDAP_INTEROP_KEY_PASS || '' })
const serverCertDer = fs.readFileSync(cfg.server_cert_der)
const clients = new Map()   // client_id -> {iss, spki, scope, grant_types}
const byIss = new Map()     // iss (SAN) -> client_id: a second registration of one SAN is an edit
const tokens = new Map()    // access_token -> client_id
const usedJti = new Set()
const log = (...a) => { if (cfg.verbose) console.error(...a) }

class UdapError extends Error {
  constructor (code, message, status = 400) { super(message); this.code = code; this.status = status }
  get body () { return { error: this.code, error_description: this.message } }
}

// What the reference's Lambda answers when its registration catch block dereferences a null
// (validationResult.statusCode): every failed statement check becomes a bare 500.
class Crash extends UdapError {
  get body () { return { message: 'Internal server error' } }
}

// ------------------------------------------------------------------ fetches (AIA, CRL, logo)
async function fetchBytes (url) {
  const res = await fetch(url, { headers: { Accept: 'application/x-x509-ca-cert' } })
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`)
  return { bytes: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') || '' }
}

// URIs (GeneralName tag [6]) anywhere under an extension value, as the reference walks the CDP.
function uris (der) {
  const out = []
  const walk = (node) => {
    if (node.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && node.type === 6 && typeof node.value === 'string') {
      out.push(node.value)
    } else if (Array.isArray(node.value)) node.value.forEach(walk)
  }
  walk(forge.asn1.fromDer(der))
  return out
}

// ------------------------------------------------------------------ hl7-fhir-udap-common checks
function parseX5c (jwt) {
  const header = JSON.parse(Buffer.from(jwt.split('.')[0], 'base64').toString('utf-8'))
  if (!header.x5c) throw new UdapError('invalid_software_statement', 'x5c header is missing.')
  const der = forge.util.decode64(header.x5c[0])          // x5c[0] only: the rest is ignored
  return { header, cert: pki.certificateFromAsn1(forge.asn1.fromDer(der)) }   // RSA only (forge)
}

async function anchorCrlCheck (cert) {
  // Only the ANCHOR's CRL distribution point is read, and only the leaf's serial is looked up.
  const ext = anchor.getExtension('cRLDistributionPoints')
  if (!ext) throw new Error('the trust anchor has no CRL distribution point')
  const points = uris(ext.value)
  if (points.length === 0) throw new Error('No CRL Found.')
  for (const url of points) {
    const { bytes } = await fetchBytes(url)
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)
    const crl = new pkijs.CertificateRevocationList({ schema: asn1js.fromBER(ab).result })
    for (const revoked of crl.revokedCertificates || []) {
      const serial = pvutils.bufferToHexCodes(revoked.userCertificate.valueBlock.valueHex)
      if (serial.toLowerCase() === cert.serialNumber.toLowerCase()) throw new Error('certificate revoked')
    }
  }
}

async function aiaChain (leaf) {
  // The chain is built only by following caIssuers URLs from the leaf, never from x5c.
  const chain = [leaf]
  let current = leaf
  for (let depth = 0; depth < 5; depth++) {
    const ext = current.getExtension('authorityInfoAccess')
    if (!ext) break
    const url = uris(ext.value).find((u) => u.startsWith('http'))
    if (!url) break
    current = pki.certificateFromAsn1(forge.asn1.fromDer(forge.util.createBuffer((await fetchBytes(url)).bytes.toString('binary'))))
    chain.push(current)
  }
  return chain
}

async function verifyUdapJwtCommon (jwt) {
  let cert, verified
  try {
    const parsed = parseX5c(jwt)
    cert = parsed.cert
    verified = njwt.verify(jwt, pki.publicKeyToPem(cert.publicKey), parsed.header.alg)
  } catch (e) {
    if (e instanceof UdapError) throw e
    throw new UdapError('invalid_software_statement', 'JWT Verify Exception:' + e.message)
  }
  try {
    await anchorCrlCheck(cert)
    const store = pki.createCaStore([anchor])
    pki.verifyCertificateChain(store, await aiaChain(cert))
  } catch (e) {
    throw new UdapError('unapproved_software_statement', 'Certificate Validation Error: ' + (e.message || e))
  }
  return { body: verified.body, cert }
}

function sans (cert) {
  const ext = cert.getExtension('subjectAltName')
  return ext ? ext.altNames.map((n) => n.value) : []
}

// ------------------------------------------------------------------ tdcr_udap.js checks
function softwareStatementBody (body, cert) {
  const fail = (m) => { throw new UdapError('invalid_software_statement', m) }
  if (!('sub' in body) || !('iss' in body) || body.iss !== body.sub || body.iss === '') fail('Invalid iss/sub values')
  if (!sans(cert).includes(body.iss)) fail('Invalid iss value')
  if (body.aud === '' || body.aud !== cfg.registration_endpoint) fail('Invalid aud value')
  const now = Date.now()
  if (!('iat' in body) || body.iat === '' || body.iat * 1000 >= now) fail('Invalid iat value')
  if (!('exp' in body) || body.exp === '' || body.exp * 1000 <= now || body.exp - body.iat > 300) fail('Invalid exp value')
}

async function clientMetadata (body, editMode) {
  const fail = (m) => { throw new UdapError('invalid_client_metadata', m) }
  const grants = body.grant_types || []
  if (!body.client_name) fail('Missing client_name')
  if (!editMode && (!('grant_types' in body) || grants.length === 0)) fail('Missing grant_types')
  if (!('scope' in body)) fail('Missing scope')
  const ac = grants.includes('authorization_code')
  if (ac && !body.response_types) fail('Missing response_types')
  if (!body.token_endpoint_auth_method) fail('Missing token_endpoint_auth_method')
  if (ac && !body.redirect_uris) fail('Missing redirect_uris')
  if (ac && !body.logo_uri) fail('Missing logo_uri')
  if (body.logo_uri) {
    let ok = false
    try { ok = ['image/png', 'image/gif', 'image/jpeg', 'image/jpg'].includes((await fetchBytes(body.logo_uri)).type) } catch (e) {}
    if (!ok) fail('The provided logo_uri must refer to a valid png, jpg, or gif image.')
  }
  const unsupported = String(body.scope).split(' ').filter((s) => !cfg.scopes_supported.includes(s))
  if (unsupported.length) fail(`Your application is requesting unsupported scopes: ${JSON.stringify(unsupported)}`)
  if (ac && grants.includes('client_credentials')) fail('A client cannot have both authorization_code and client_credentials grant types.')
}

async function register (raw) {
  let request
  try { request = JSON.parse(raw) } catch (e) { throw new UdapError('invalid_software_statement', 'body is not JSON') }
  const statement = request.software_statement
  if (typeof statement !== 'string') throw new UdapError('invalid_software_statement', 'software_statement missing')
  let body, cert
  try {
    ({ body, cert } = await verifyUdapJwtCommon(statement))
    softwareStatementBody(body, cert)
  } catch (e) {
    if (cfg.faithful_errors) { log(e); throw new Crash(null, e.message, 500) }
    throw e
  }
  const existing = byIss.get(body.iss)
  await clientMetadata(body, Boolean(existing))
  if (existing && Array.isArray(body.grant_types) && body.grant_types.length === 0) {
    clients.delete(existing); byIss.delete(body.iss)
    return [200, { client_id: existing, software_statement: statement, grant_types: [] }]
  }
  if (existing && clients.get(existing).ac !== body.grant_types.includes('authorization_code')) {
    throw new UdapError('invalid_registration_edit', 'This server does not support editing between client_credentials and authorization_code grants. Please submit a delete request and a create request to obtain a new client_id.')
  }
  const clientId = existing || ('0oa' + crypto.randomBytes(9).toString('hex'))
  clients.set(clientId, { iss: body.iss, spki: pki.publicKeyToPem(cert.publicKey), scope: body.scope,
                          grant_types: body.grant_types, ac: body.grant_types.includes('authorization_code') })
  byIss.set(body.iss, clientId)
  const echo = { client_id: clientId, software_statement: statement, client_name: body.client_name,
                 grant_types: body.grant_types, token_endpoint_auth_method: body.token_endpoint_auth_method,
                 scope: body.scope }
  for (const k of ['redirect_uris', 'response_types', 'logo_uri', 'contacts']) if (k in body) echo[k] = body[k]
  return [existing ? 200 : 201, echo]
}

// ------------------------------------------------------------------ token.js + mocked OAuth platform
async function token (raw) {
  const form = Object.fromEntries(new URLSearchParams(raw))
  if (form.udap) {  // without udap the reference forwards the request unchecked
    const { body } = await verifyUdapJwtCommon(form.client_assertion || '').catch((e) => {
      throw new UdapError('invalid_request', e.message)
    })
    const fail = (m) => { throw new UdapError('invalid_request', m) }
    if (!('exp' in body) || body.exp * 1000 <= Date.now() || body.exp - body.iat > 300) fail('Invalid exp value')
    if ('client_id' in body && body.client_id !== body.sub) fail('Invalid client_id or sub value')
    if (!body.aud || body.aud !== cfg.token_endpoint) fail('Invalid aud value')
  }
  return oauthPlatform(form)
}

async function oauthPlatform (form) {
  const fail = (code, m, status = 400) => { throw new UdapError(code, m, status) }
  if (form.grant_type !== 'client_credentials') fail('unsupported_grant_type', 'grant_type')
  if (form.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') fail('invalid_client', 'client_assertion_type', 401)
  const claims = jose.decodeJwt(form.client_assertion || '')
  const client = clients.get(claims.sub)
  if (!client) fail('invalid_client', 'client not found', 401)
  let payload
  try {
    const alg = jose.decodeProtectedHeader(form.client_assertion).alg
    const key = await jose.importSPKI(client.spki, alg)
    payload = (await jose.jwtVerify(form.client_assertion, key, { issuer: claims.sub, subject: claims.sub,
                                                                  audience: cfg.token_endpoint, requiredClaims: ['exp', 'jti'] })).payload
  } catch (e) { fail('invalid_client', 'The client_assertion token is invalid: ' + e.message, 401) }
  if (usedJti.has(payload.jti)) fail('invalid_client', 'The client_assertion token has already been used.', 401)
  usedJti.add(payload.jti)
  const granted = client.scope.split(' ')
  const asked = (form.scope || '').split(' ').filter(Boolean)
  if (!asked.length || asked.some((s) => !granted.includes(s))) fail('invalid_scope', 'The requested scope is invalid, unknown, or malformed.')
  const accessToken = crypto.randomBytes(24).toString('base64url')
  tokens.set(accessToken, claims.sub)
  return [200, { token_type: 'Bearer', expires_in: 3600, access_token: accessToken, scope: asked.join(' ') }]
}

// ------------------------------------------------------------------ udap_well_known.js
function metadata () {
  const claims = { iss: cfg.base_url, sub: cfg.base_url, authorization_endpoint: cfg.authorization_endpoint,
                   token_endpoint: cfg.token_endpoint, registration_endpoint: cfg.registration_endpoint }
  const jwt = njwt.create(claims, serverKey, cfg.signing_alg)
  jwt.setHeader('x5c', [serverCertDer.toString('base64')])  // the leaf only, as the reference does
  jwt.setExpiration((jwt.body.iat + 300) * 1000)
  jwt.setJti(crypto.randomUUID())
  return {
    udap_versions_supported: ['1'],
    udap_profiles_supported: ['udap_dcr', 'udap_authn', 'udap_authz', 'udap_to'],
    udap_authorization_extensions_supported: [],
    udap_authorization_extensions_required: [],
    udap_certifications_supported: [],
    udap_certifications_required: [],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    scopes_supported: cfg.scopes_supported,
    registration_endpoint: cfg.registration_endpoint,
    registration_endpoint_jwt_signing_alg_values_supported: cfg.client_algs,
    authorization_endpoint: cfg.authorization_endpoint,
    token_endpoint: cfg.token_endpoint,
    token_endpoint_auth_signing_alg_values_supported: cfg.client_algs,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    signed_metadata: jwt.compact()
  }
}

// ------------------------------------------------------------------ HTTP
const base = new URL(cfg.base_url).pathname.replace(/\/$/, '')
const routes = {
  [`GET ${base}/.well-known/udap`]: async () => [200, metadata()],  // the community parameter is ignored
  [`POST ${new URL(cfg.registration_endpoint).pathname}`]: register,
  [`POST ${new URL(cfg.token_endpoint).pathname}`]: token,
  [`GET ${base}/metadata`]: async (raw, req) => {
    const auth = req.headers.authorization || ''
    if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice(7))) return [401, { error: 'invalid_token' }]
    return [200, { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1',
                   format: ['json'] }, 'application/fhir+json']
  }
}

const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', async () => {
    const path = req.url.split('?')[0]
    let status, body, type = 'application/json'
    try {
      const file = req.method === 'GET' && cfg.files[path]
      if (file) {
        res.writeHead(200, { 'Content-Type': file.type }).end(fs.readFileSync(file.path))
        return
      }
      const handler = routes[`${req.method} ${path}`]
      if (!handler) [status, body] = [404, { error: 'not_found' }]
      else [status, body, type = type] = await handler(Buffer.concat(chunks).toString('utf-8'), req)
    } catch (e) {
      log(e)
      if (e instanceof UdapError) [status, body] = [e.status, e.body]
      else [status, body] = [500, { message: 'Internal Server Error' }]
    }
    log(req.method, path, status, JSON.stringify(body, (k, v) => (k === 'access_token' ? '[redacted]' : v)))
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(JSON.stringify(body))
  })
})

server.listen(cfg.port, '127.0.0.1', () => {
  const version = (name) => JSON.parse(fs.readFileSync(`${__dirname}/node_modules/${name}/package.json`, 'utf-8')).version
  const versions = Object.fromEntries(['njwt', 'node-forge', 'pkijs', 'asn1js', 'jose'].map((n) => [n, version(n)]))
  process.stdout.write(JSON.stringify({ ready: true, port: server.address().port, node: process.version, versions }) + '\n')
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
