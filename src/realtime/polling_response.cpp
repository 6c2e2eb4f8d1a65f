#include "polling_response.hpp"

#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace nilecare::realtime {
namespace beast = boost::beast;
namespace beast_http = beast::http;

namespace {
http::Response Text(http::Status status, std::string body, std::string_view content_type) {
  http::Response response{status, 11};
  response.set(beast_http::field::content_type, content_type);
  // Polling answers are live data: no proxy or browser may keep them.
  response.set(beast_http::field::cache_control, "no-store");
  response.body() = std::move(body);
  return response;
}
}  // namespace

http::Response PollingPayload(std::string body) {
  return Text(http::Status::ok, std::move(body), "text/plain; charset=UTF-8");
}

http::Response PollingOk() { return Text(http::Status::ok, "ok", "text/html"); }

http::Response PollingError(eio::TransportError error) {
  const auto status = error == eio::TransportError::kForbidden ? http::Status::forbidden
                                                               : http::Status::bad_request;
  return Text(status, eio::ErrorBody(error), "application/json");
}

void CloseSocket(WebSocket& socket) {
  beast::error_code ignored;
  socket.next_layer().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket.next_layer().close();
}

void RefuseUpgrade(std::unique_ptr<WebSocket> socket, eio::TransportError error) {
  auto stream = std::shared_ptr<WebSocket>(std::move(socket));
  auto response = std::make_shared<http::Response>(PollingError(error));
  response->keep_alive(false);
  response->prepare_payload();
  beast_http::async_write(stream->next_layer(), *response,
                          [stream, response](beast::error_code, std::size_t) {
                            CloseSocket(*stream);
                          });
}

}  // namespace nilecare::realtime
