#pragma once
// The HTTP/1.1 server (Boost.Beast): keep-alive, pipelining, limits from `http:`
// (header size -> 431, body -> 413, header/body/idle timeouts), every error enveloped,
// X-Request-ID / X-Correlation-ID on every reply, graceful drain on shutdown.
//
// YAML (`http:`; defaults in config::HttpSettings):
//   listen: 0.0.0.0:7000      host:port; port 0 picks a free port (tests)
//   max_header: 16KiB         request line + headers; more -> 431
//   max_body: 1MiB            more -> 413 (checked on Content-Length before reading)
//   header_timeout: 10s       first byte to end of headers; slower -> 408, closed
//   body_timeout: 30s         end of headers to end of body; also bounds writing a reply
//   idle_timeout: 65s         keep-alive connection with no request -> closed quietly
//   max_connections: 10000    beyond this, new connections are closed at once (counted)

#include <cstddef>
#include <cstdint>
#include <memory>

#include "nilecare/config/settings.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace nilecare::http {

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, const config::HttpSettings& settings,
             const Dispatcher& dispatcher, observability::MetricsRegistry& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting. Throws std::runtime_error naming the address on failure.
  void Start();
  std::uint16_t Port() const;

  // Stops accepting, closes idle keep-alive connections, and lets requests already being
  // read or handled finish (their replies carry Connection: close).
  void BeginShutdown();
  // Requests between their first byte and the end of their reply.
  std::size_t ActiveRequests() const;
  std::size_t OpenConnections() const;
  // Closes every connection that is still open (grace period over).
  void CloseAll();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace nilecare::http
