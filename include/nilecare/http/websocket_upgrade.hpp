#pragma once
// What an HTTP session hands over when a request asks to become a WebSocket (RFC 6455
// upgrade) on a path with an upgrade handler: the parsed request, its ids, the connection
// itself and any bytes already read past the request. The HTTP server forgets the
// connection from then on; the new owner answers the handshake (or refuses it) and owns
// the socket's lifetime, limits and shutdown.

#include <boost/beast/core/flat_buffer.hpp>

#include "nilecare/http/asio_types.hpp"
#include "nilecare/http/types.hpp"

namespace nilecare::http {

struct WebSocketUpgrade {
  RequestContext context;
  Request request;
  StrandStream stream;
  boost::beast::flat_buffer buffer;
};

}  // namespace nilecare::http
