#include "nilecare/http/server.hpp"

#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>

#include "http_session.hpp"
#include "nilecare/observability/log.hpp"
#include "server_state.hpp"

namespace nilecare::http {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace log = observability::log;

namespace {
// Accept failures such as EMFILE repeat immediately; pausing keeps them from spinning a
// core while the operator fixes the limit.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io_in, const config::HttpSettings& settings, const Dispatcher& dispatcher,
       observability::MetricsRegistry& metrics)
      : io(io_in),
        acceptor(asio::make_strand(io_in)),
        retry_timer(acceptor.get_executor()),
        state(std::make_shared<ServerState>(settings, dispatcher, metrics)) {}

  void DoAccept() {
    acceptor.async_accept(asio::make_strand(io),
                          [self = shared_from_this()](boost::system::error_code ec,
                                                      StrandSocket socket) {
                            self->OnAccept(ec, std::move(socket));
                          });
  }

  void OnAccept(boost::system::error_code ec, StrandSocket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      log::Warn("accept failed", {{"error", ec.message()}});
      retry_timer.expires_after(kAcceptRetryDelay);
      retry_timer.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
        if (!wait_ec) self->DoAccept();
      });
      return;
    }
    if (state->Draining() || !state->AdmitConnection()) {
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      auto session = std::make_shared<HttpSession>(std::move(socket), state);
      state->Register(session);
      session->Run();
    }
    DoAccept();
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  std::shared_ptr<ServerState> state;
  std::uint16_t port{0};
};

HttpServer::HttpServer(asio::io_context& io, const config::HttpSettings& settings,
                       const Dispatcher& dispatcher, observability::MetricsRegistry& metrics)
    : impl_(std::make_shared<Impl>(io, settings, dispatcher, metrics)) {}

HttpServer::~HttpServer() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

void HttpServer::Start() {
  const auto& listen = impl_->state->Settings().listen;
  const std::string where = fmt::format("{}:{}", listen.host, listen.port);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(listen.host, ec);
  if (ec) throw std::runtime_error(fmt::format("http.listen: bad address {}: {}", where, ec.message()));
  const tcp::endpoint endpoint(address, listen.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot listen on {}: {}", where, ec.message()));
  impl_->port = acceptor.local_endpoint().port();
  impl_->DoAccept();
}

std::uint16_t HttpServer::Port() const { return impl_->port; }

void HttpServer::BeginShutdown() {
  impl_->state->SetDraining();
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->retry_timer.cancel();
  });
  impl_->state->ForEachSession([](const std::shared_ptr<HttpSession>& s) { s->Drain(); });
}

std::size_t HttpServer::ActiveRequests() const { return impl_->state->ActiveRequests(); }

std::size_t HttpServer::OpenConnections() const { return impl_->state->OpenConnections(); }

void HttpServer::CloseAll() {
  impl_->state->ForEachSession([](const std::shared_ptr<HttpSession>& s) { s->ForceClose(); });
}

}  // namespace nilecare::http
