#pragma once
// HTTP replies of the Engine.IO transports (private to src/realtime). They are the
// protocol's own bodies, not NileCareResponse envelopes: socket.io-client parses them.

#include <memory>
#include <string>

#include <boost/beast/websocket/stream.hpp>

#include "nilecare/http/asio_types.hpp"
#include "nilecare/http/types.hpp"
#include "nilecare/realtime/engineio_codec.hpp"

namespace nilecare::realtime {

using WebSocket = boost::beast::websocket::stream<http::StrandStream>;

// 200 text/plain: a polling payload (packets joined by \x1e).
http::Response PollingPayload(std::string body);
// 200 "ok": the answer to a polling POST.
http::Response PollingOk();
// 400 (403 for kForbidden) {"code":N,"message":"..."}.
http::Response PollingError(eio::TransportError error);
// Shuts the connection under a WebSocket down and closes it, without a close frame.
void CloseSocket(WebSocket& socket);
// Refuses a WebSocket handshake we took over: writes the error reply on the raw
// connection and closes it.
void RefuseUpgrade(std::unique_ptr<WebSocket> socket, eio::TransportError error);

}  // namespace nilecare::realtime
