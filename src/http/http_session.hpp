#pragma once
// One client connection: reads requests with Beast's parser under the configured limits
// and deadlines, hands each to the dispatcher, writes the reply, repeats (keep-alive).
// Everything runs on the connection's strand; handlers may answer from any thread.

#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>

#include "nilecare/http/asio_types.hpp"
#include "nilecare/http/types.hpp"

namespace nilecare::http {

class ServerState;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(StrandSocket&& socket, std::shared_ptr<ServerState> state);
  ~HttpSession();

  void Run();
  // Server shutdown: close now if idle, else close after the current reply.
  void Drain();
  void ForceClose();

 private:
  enum class Phase { kIdle, kHeader, kBody, kHandling, kWriting, kClosing, kUpgraded };

  void ArmDeadline(std::chrono::milliseconds timeout);
  void DoRead();
  void OnFirstBytes(boost::beast::error_code ec, std::size_t bytes);
  void DoReadSome();
  void OnRead(boost::beast::error_code ec, std::size_t bytes);
  void OnHeaderDone();
  void OnContinueWritten(boost::beast::error_code ec, std::size_t bytes);
  void AssignIds(const Request& request);
  void HandleRequest();
  bool TryUpgrade();
  void OnResponse(Response&& response);
  void Reject(Status status, std::string_view code, std::string_view message);
  void Write(bool keep_alive);
  void OnWrite(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void LingeringClose();
  void DiscardInput();
  void Close();
  void BeginRequest();
  void RecordRequest(unsigned status);

  StrandStream stream_;
  boost::beast::flat_buffer buffer_;
  StrandTimer deadline_;  // header/body/idle deadlines
  std::shared_ptr<ServerState> state_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  Phase phase_{Phase::kIdle};
  bool in_flight_{false};
  bool timed_out_{false};
  bool drain_requested_{false};
  bool awaiting_handler_{false};
  RequestContext context_;
  Request request_;
  std::shared_ptr<Response> response_;
  std::size_t discarded_{0};
  std::shared_ptr<char[]> discard_buffer_;
};

}  // namespace nilecare::http
