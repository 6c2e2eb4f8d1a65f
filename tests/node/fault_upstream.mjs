// A fault-injecting upstream for the REST gateway's integration tests and benchmarks.
//   node fault_upstream.mjs [--port 0]      prints "listening <port>" when ready
//
// The last path segment picks the behaviour (any prefix works, so every gateway route
// can point here):
//   .../echo                 200 {method, path, headers, body}
//   .../flaky?key=K&fail=N&status=503[&retry_after=S]
//                            the first N calls for K answer `status`, then 200 {attempts}
//   .../slow?ms=N            200 after N ms
//   .../reset                destroys the connection without a reply
//   .../status?code=C        C with a JSON error body {message, reason}
//   .../text-error?code=C    C with a text/html body
//   .../pdf                  200 application/pdf (binary)
//   .../enveloped            200, a body that already is a NileCareResponse
//   .../count?key=K          200 {count}; every method counts
//   .../no-content           204
//   .../validate             the auth service's token validation (POST {token}): token
//                            "good:<id>:<role>" -> 200 {success, data: {user}}, "down" -> 503,
//                            anything else -> 401; counted under key "validate"
//   /__hits?key=K            how many calls K received (flaky, count, slow, validate)
import http from 'node:http';

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1] || 0);
const hits = new Map();

function hit(key) {
  const n = (hits.get(key) || 0) + 1;
  hits.set(key, n);
  return n;
}

function json(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://upstream');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const mode = url.pathname.split('/').filter(Boolean).pop() || '';
    const key = url.searchParams.get('key') || url.pathname;
    switch (mode) {
      case '__hits':
        return json(res, 200, { hits: hits.get(url.searchParams.get('key')) || 0 });
      case 'echo':
        return json(res, 200, { method: req.method, path: req.url, headers: req.headers, body });
      case 'flaky': {
        const n = hit(key);
        const fail = Number(url.searchParams.get('fail') || 1);
        if (n <= fail) {
          const headers = {};
          if (url.searchParams.has('retry_after')) headers['Retry-After'] = url.searchParams.get('retry_after');
          return json(res, Number(url.searchParams.get('status') || 503), { message: 'try again', attempt: n }, headers);
        }
        return json(res, 200, { attempts: n });
      }
      case 'slow': {
        hit(key);
        const ms = Number(url.searchParams.get('ms') || 1000);
        const timer = setTimeout(() => json(res, 200, { slept_ms: ms }), ms);
        res.on('close', () => clearTimeout(timer));
        return undefined;
      }
      case 'reset':
        hit(key);
        return req.socket.destroy();
      case 'status': {
        const code = Number(url.searchParams.get('code') || 400);
        return json(res, code, { message: `upstream said ${code}`, reason: 'test' });
      }
      case 'text-error': {
        const code = Number(url.searchParams.get('code') || 500);
        res.writeHead(code, { 'Content-Type': 'text/html' });
        return res.end('<html><body>Internal trouble</body></html>');
      }
      case 'pdf': {
        const pdf = Buffer.from('%PDF-1.4\n\x00\x01\x02binary\n%%EOF', 'latin1');
        res.writeHead(200, { 'Content-Type': 'application/pdf', 'Content-Disposition': 'attachment; filename="r.pdf"', 'Content-Length': pdf.length });
        return res.end(pdf);
      }
      case 'enveloped':
        return json(res, 201, {
          status: 201, success: true, message: 'Appointment created', data: { appointment_id: 'APT-1' },
          timestamp: new Date().toISOString(), request_id: 'upstream-own-id',
        });
      case 'count':
        return json(res, 200, { count: hit(key) });
      case 'validate': {
        hit('validate');
        let token = '';
        try { token = JSON.parse(body).token || ''; } catch { token = ''; }
        if (token === 'down') return json(res, 503, { success: false, message: 'auth down' });
        const [kind, id, role] = token.split(':');
        if (kind !== 'good') return json(res, 401, { success: false, message: 'Invalid token' });
        return json(res, 200, { success: true, message: 'ok', data: { user: { id, role } } });
      }
      case 'no-content':
        res.writeHead(204);
        return res.end();
      default:
        return json(res, 200, { ok: true, path: url.pathname });
    }
  });
});
server.keepAliveTimeout = 5000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
