// The baseline of bench/realtime.sh: the reference Socket.IO server (the `socket.io` npm
// package) doing what the gateway's realtime adapter does for the benchmark, so the same
// load tool (nilecare-rtload) drives both:
//   - CONNECT carries { token }: an HS256 JWT checked for signature, exp, iss and aud;
//   - the socket joins user:<sub> and role:<role>, like the gateway;
//   - "subscribe:patient" <id> joins patient:<id> (roles doctor/nurse/admin) and acks
//     { success: true, room };
//   - POST /internal/emit { room | rooms, event, data } broadcasts to the room(s) and
//     answers 202 with the local recipient count;
//   - connection state recovery on (2 min), so broadcasts carry an offset like the
//     gateway's.
//
//   PORT=17920 JWT_SECRET=... JWT_ISSUER=nilecare-auth JWT_AUDIENCE=nilecare node server.mjs
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.env.PORT ?? 17920);
const host = process.env.HOST ?? "127.0.0.1";
const secret = process.env.JWT_SECRET ?? "";
const issuer = process.env.JWT_ISSUER ?? "";
const audience = process.env.JWT_AUDIENCE ?? "";
const patientRoles = new Set(["doctor", "nurse", "admin"]);
if (secret.length < 32) {
  console.error("JWT_SECRET (at least 32 bytes) is required");
  process.exit(2);
}

function verify(token) {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], "base64url"));
    if (header.alg !== "HS256") return null;
    const mac = createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
    const signature = Buffer.from(parts[2], "base64url");
    if (signature.length !== mac.length || !timingSafeEqual(signature, mac)) return null;
    const claims = JSON.parse(Buffer.from(parts[1], "base64url"));
    if (typeof claims.sub !== "string" || claims.sub === "") return null;
    if (typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now()) return null;
    if (issuer && claims.iss !== issuer) return null;
    if (audience) {
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!aud.includes(audience)) return null;
    }
    return claims;
  } catch {
    return null;
  }
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

let io;
const httpServer = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/health") return send(res, 200, { status: "UP" });
  if (req.method !== "POST" || req.url !== "/internal/emit") {
    return send(res, 404, { success: false, error: "Not found" });
  }
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks));
    } catch {
      return send(res, 400, { success: false, error: "Expected a JSON object" });
    }
    const rooms = typeof body?.room === "string" ? [body.room] : body?.rooms;
    if (!Array.isArray(rooms) || rooms.length === 0 || typeof body.event !== "string") {
      return send(res, 400, { success: false, error: "room and event are required" });
    }
    let recipients = 0;
    for (const room of rooms) recipients += io.sockets.adapter.rooms.get(room)?.size ?? 0;
    io.to(rooms).emit(body.event, body.data);
    send(res, 202, {
      success: true,
      message: "Event emitted",
      data: { event: body.event, rooms, local_recipients: recipients },
    });
  });
});
httpServer.keepAliveTimeout = 65000;

io = new Server(httpServer, {
  path: "/socket.io/",
  serveClient: false,
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
});

io.use((socket, next) => {
  const claims = verify(socket.handshake.auth?.token);
  if (!claims) return next(new Error("Authentication failed"));
  socket.data.claims = claims;
  next();
});

io.on("connection", (socket) => {
  const { sub, role } = socket.data.claims;
  socket.join(`user:${sub}`);
  if (typeof role === "string" && role) socket.join(`role:${role}`);
  socket.on("subscribe:patient", (id, ack) => {
    const reply = typeof ack === "function" ? ack : () => {};
    const patient = typeof id === "object" && id ? (id.patientId ?? id.patient_id) : id;
    if ((typeof patient !== "string" && typeof patient !== "number") ||
        !/^[A-Za-z0-9._:~-]{1,64}$/.test(String(patient))) {
      return reply({ success: false, error: "Invalid patient id" });
    }
    if (!patientRoles.has(role)) {
      return reply({ success: false, error: "Not authorized for this patient" });
    }
    const room = `patient:${patient}`;
    socket.join(room);
    reply({ success: true, room });
  });
});

httpServer.listen(port, host, () => console.log(`socket.io baseline on ${host}:${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
