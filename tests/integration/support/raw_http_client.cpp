#include "support/raw_http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

namespace nilecare::testing {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

std::string HttpResult::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return value;
  }
  return {};
}

bool HttpResult::HasHeader(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return true;
  }
  return false;
}

struct RawConnection::Impl {
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  bool connected{false};

  // Runs the started operation until it completes (`result` leaves would_block) or
  // `timeout` passes; then it is cancelled and false returned.
  bool RunUntilDone(std::chrono::milliseconds timeout, const boost::system::error_code& result) {
    io.restart();
    io.run_for(timeout);
    if (result != asio::error::would_block) return true;
    boost::system::error_code ignored;
    socket.cancel(ignored);
    io.restart();
    io.run();
    return false;
  }
};

RawConnection::RawConnection(std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  boost::system::error_code ec;
  impl_->socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  impl_->connected = !ec;
}

RawConnection::~RawConnection() {
  boost::system::error_code ignored;
  impl_->socket.close(ignored);
}

bool RawConnection::Connected() const { return impl_->connected; }

bool RawConnection::Send(std::string_view bytes) {
  boost::system::error_code ec;
  asio::write(impl_->socket, asio::buffer(bytes.data(), bytes.size()), ec);
  return !ec;
}

std::optional<HttpResult> RawConnection::ReadResponse(std::chrono::milliseconds timeout,
                                                      bool head_request) {
  auto parser = std::make_shared<http::response_parser<http::string_body>>();
  parser->body_limit(64 * 1024 * 1024);
  parser->skip(head_request);
  boost::system::error_code result = asio::error::would_block;
  http::async_read(impl_->socket, impl_->buffer, *parser,
                   [&result](boost::system::error_code ec, std::size_t) { result = ec; });
  if (!impl_->RunUntilDone(timeout, result) || result) return std::nullopt;
  auto message = parser->release();
  HttpResult out;
  out.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(message.body());
  out.keep_alive = message.keep_alive();
  return out;
}

bool RawConnection::WaitClosed(std::chrono::milliseconds timeout) {
  char byte = 0;
  boost::system::error_code result = asio::error::would_block;
  std::size_t received = 0;
  impl_->socket.async_read_some(asio::buffer(&byte, 1),
                                [&](boost::system::error_code ec, std::size_t n) {
                                  result = ec;
                                  received = n;
                                });
  if (!impl_->RunUntilDone(timeout, result)) return false;
  return received == 0 && (result == asio::error::eof || result == asio::error::connection_reset);
}

std::optional<HttpResult> HttpRequest(
    std::uint16_t port, std::string_view method, std::string_view target,
    const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body,
    std::chrono::milliseconds timeout) {
  RawConnection connection(port);
  if (!connection.Connected()) return std::nullopt;
  std::string request;
  request += method;
  request += ' ';
  request += target;
  request += " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n";
  request += body;
  if (!connection.Send(request)) return std::nullopt;
  return connection.ReadResponse(timeout, method == "HEAD");
}

}  // namespace nilecare::testing
