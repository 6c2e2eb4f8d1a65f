#include "http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>

#include "nilecare/core/errors.hpp"
#include "nilecare/core/ids.hpp"
#include "nilecare/http/responses.hpp"
#include "nilecare/http/websocket_upgrade.hpp"
#include "nilecare/observability/log.hpp"
#include "server_state.hpp"

namespace nilecare::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace log = observability::log;

namespace {

// After an error reply the client may still be sending a body; reading it for a moment
// before closing keeps the kernel from answering with a RST that would destroy our reply.
constexpr std::size_t kMaxLingerBytes = 4 * 1024 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kDiscardChunk = 16 * 1024;
// Headers beyond max_header are refused by the parser; the buffer only needs room for
// them plus a read's worth of pipelined bytes.
constexpr std::size_t kBufferSlack = 16 * 1024;

constexpr std::size_t kFirstReadSize = 8 * 1024;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

HttpSession::HttpSession(StrandSocket&& socket, std::shared_ptr<ServerState> state)
    : stream_(std::move(socket)),
      buffer_(state->Settings().max_header + kBufferSlack),
      deadline_(stream_.get_executor()),
      state_(std::move(state)) {
  beast::error_code ec;
  const auto endpoint = stream_.socket().remote_endpoint(ec);
  if (!ec) context_.remote_address = endpoint.address().to_string();
  stream_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

HttpSession::~HttpSession() {
  if (in_flight_) state_->RequestFinished();
  state_->Unregister(this);
}

void HttpSession::Run() {
  asio::dispatch(stream_.get_executor(),
                 beast::bind_front_handler(&HttpSession::DoRead, shared_from_this()));
}

void HttpSession::Drain() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    self->drain_requested_ = true;
    if (self->phase_ == Phase::kIdle) self->Close();
  });
}

void HttpSession::ForceClose() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
}

void HttpSession::DoRead() {
  if (drain_requested_ && buffer_.size() == 0) {
    Close();
    return;
  }
  const auto& settings = state_->Settings();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(settings.max_header));
  parser_->body_limit(settings.max_body);
  stream_.expires_never();
  if (buffer_.size() > 0) {
    BeginRequest();  // pipelined bytes are already here
    DoReadSome();
    return;
  }
  // Wait for the first bytes with a plain read: Beast's parser reads would not return
  // before the whole header is in, so the switch from the idle deadline to the header
  // deadline has to happen here.
  phase_ = Phase::kIdle;
  ArmDeadline(settings.idle_timeout);
  stream_.async_read_some(buffer_.prepare(kFirstReadSize),
                          beast::bind_front_handler(&HttpSession::OnFirstBytes,
                                                    shared_from_this()));
}

void HttpSession::OnFirstBytes(beast::error_code ec, std::size_t bytes) {
  if (phase_ == Phase::kClosing) return;
  if (ec || timed_out_ || bytes == 0) return Close();
  buffer_.commit(bytes);
  BeginRequest();
  DoReadSome();
}

void HttpSession::BeginRequest() {
  phase_ = Phase::kHeader;
  context_ = RequestContext{{}, {}, context_.remote_address, "unmatched",
                            std::chrono::steady_clock::now()};
  if (!in_flight_) {
    in_flight_ = true;
    state_->RequestStarted();
  }
  // One deadline for the whole header, not per read: a client trickling a byte at a time
  // (slowloris) still runs out of time.
  ArmDeadline(state_->Settings().header_timeout);
}

void HttpSession::ArmDeadline(std::chrono::milliseconds timeout) {
  // Our own timer rather than tcp_stream's expiry, which closes the socket: a client that
  // is too slow still gets its 408.
  timed_out_ = false;
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->phase_ == Phase::kUpgraded) return;  // re-armed, cancelled, handed over
    self->timed_out_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);
  });
}

void HttpSession::DoReadSome() {
  beast_http::async_read_some(stream_, buffer_, *parser_,
                              beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
}

void HttpSession::OnRead(beast::error_code ec, std::size_t) {
  if (phase_ == Phase::kClosing) return;
  if (timed_out_) {
    return Reject(Status::request_timeout, core::error_code::kRequestTimeout,
                  "Request not received in time");
  }
  if (ec) {
    if (ec == beast_http::error::header_limit || ec == beast_http::error::buffer_overflow) {
      return Reject(Status::request_header_fields_too_large, core::error_code::kHeadersTooLarge,
                    "Request headers are too large");
    }
    if (ec == beast_http::error::body_limit) {
      return Reject(Status::payload_too_large, core::error_code::kPayloadTooLarge,
                    "Request body is too large");
    }
    if (ec.category() == beast_http::make_error_code(beast_http::error::bad_method).category() &&
        ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message) {
      return Reject(Status::bad_request, core::error_code::kBadRequest,
                    std::string("Malformed HTTP request: ") + ec.message());
    }
    // end of stream, reset, aborted: nothing to answer.
    return Close();
  }
  if (phase_ == Phase::kHeader && parser_->is_header_done()) {
    OnHeaderDone();
    return;
  }
  if (parser_->is_done()) return HandleRequest();
  DoReadSome();
}

void HttpSession::OnHeaderDone() {
  phase_ = Phase::kBody;
  if (parser_->is_done()) return HandleRequest();
  ArmDeadline(state_->Settings().body_timeout);
  const auto& header = parser_->get();
  const auto expect = header.find(beast_http::field::expect);
  if (expect != header.end()) {
    if (!beast::iequals(expect->value(), "100-continue")) {
      return Reject(Status::expectation_failed, core::error_code::kExpectationFailed,
                    "Only Expect: 100-continue is supported");
    }
    // The client waits for this before sending the body (curl does for bodies > 1 KiB).
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      beast::bind_front_handler(&HttpSession::OnContinueWritten,
                                                shared_from_this()));
    return;
  }
  DoReadSome();
}

void HttpSession::OnContinueWritten(beast::error_code ec, std::size_t) {
  if (ec) return Close();
  DoReadSome();
}

void HttpSession::AssignIds(const Request& request) {
  auto request_id = core::SanitizeRequestId(HeaderValue(request, "X-Request-ID"));
  context_.request_id = request_id ? std::move(*request_id) : core::NewUuid();
  auto correlation_id = core::SanitizeRequestId(HeaderValue(request, "X-Correlation-ID"));
  context_.correlation_id = correlation_id ? std::move(*correlation_id) : context_.request_id;
}

void HttpSession::HandleRequest() {
  phase_ = Phase::kHandling;
  deadline_.cancel();
  request_ = parser_->release();
  parser_.reset();

  AssignIds(request_);
  if (TryUpgrade()) return;

  awaiting_handler_ = true;
  auto self = shared_from_this();
  Responder respond = [self](Response&& response) {
    asio::dispatch(self->stream_.get_executor(),
                   [self, response = std::move(response)]() mutable {
                     self->OnResponse(std::move(response));
                   });
  };
  try {
    state_->Routes().Dispatch(context_, request_, std::move(respond));
  } catch (const std::exception& error) {
    // A handler bug must cost one request, not the process.
    log::Error("handler threw", {{"request_id", context_.request_id},
                                 {"route", context_.route},
                                 {"error", error.what()}});
    OnResponse(ErrorResponse(context_, Status::internal_server_error,
                             core::error_code::kInternalError, "Internal error"));
  }
}

bool HttpSession::TryUpgrade() {
  if (!beast::websocket::is_upgrade(request_)) return false;
  const auto path = Dispatcher::SafePath(request_.target());
  if (!path) return false;
  std::string_view label;
  const UpgradeHandler* handler = state_->Routes().FindUpgrade(*path, label);
  if (handler == nullptr) return false;
  context_.route = label;
  RecordRequest(101);
  phase_ = Phase::kUpgraded;
  deadline_.cancel();
  if (in_flight_) {
    in_flight_ = false;
    state_->RequestFinished();
  }
  WebSocketUpgrade upgrade{std::move(context_), std::move(request_), std::move(stream_),
                           std::move(buffer_)};
  try {
    (*handler)(upgrade);
  } catch (const std::exception& error) {
    log::Error("upgrade handler threw", {{"route", label}, {"error", error.what()}});
  }
  return true;
}

void HttpSession::OnResponse(Response&& response) {
  if (!awaiting_handler_) {
    log::Error("handler answered twice", {{"route", context_.route}});
    return;
  }
  awaiting_handler_ = false;
  if (phase_ == Phase::kClosing) return;
  response_ = std::make_shared<Response>(std::move(response));
  response_->version(request_.version());
  const bool keep_alive = request_.keep_alive() && !drain_requested_ && !state_->Draining();
  Write(keep_alive);
}

void HttpSession::Reject(Status status, std::string_view code, std::string_view message) {
  // The request could not be read: answer once, then close the connection, since the
  // rest of the byte stream cannot be trusted to start at a message boundary.
  if (phase_ == Phase::kIdle) BeginRequest();
  request_ = Request{};
  if (parser_ && parser_->is_header_done()) {
    // 413/417 come after a complete header: keep the caller's ids and method for the
    // reply, the metrics and the log line.
    const auto& header = parser_->get();
    request_.method_string(header.method_string());
    request_.version(header.version());
    AssignIds(header);
  }
  if (context_.request_id.empty()) context_.request_id = core::NewUuid();
  if (context_.correlation_id.empty()) context_.correlation_id = context_.request_id;
  parser_.reset();
  deadline_.cancel();
  phase_ = Phase::kHandling;
  response_ = std::make_shared<Response>(ErrorResponse(context_, status, code, message));
  Write(false);
}

void HttpSession::Write(bool keep_alive) {
  phase_ = Phase::kWriting;
  auto& response = *response_;
  response.keep_alive(keep_alive);
  response.set("X-Request-ID", context_.request_id);
  response.set("X-Correlation-ID", context_.correlation_id);
  const bool is_head = request_.method() == Verb::head;
  const std::size_t body_size = response.body().size();
  response.prepare_payload();
  if (is_head) {
    response.body().clear();
    response.content_length(body_size);
  }
  RecordRequest(response.result_int());
  stream_.expires_after(state_->Settings().body_timeout);
  beast_http::async_write(
      stream_, response,
      beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this(), keep_alive));
}

void HttpSession::OnWrite(bool keep_alive, beast::error_code ec, std::size_t) {
  if (in_flight_) {
    in_flight_ = false;
    state_->RequestFinished();
  }
  response_.reset();
  if (ec) return Close();
  if (!keep_alive) return LingeringClose();
  DoRead();
}

// Counted and logged when the reply is handed to the socket, not when the write
// completes: a client that has read its reply and scrapes /metrics at once must find it
// counted.
void HttpSession::RecordRequest(unsigned status) {
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                     context_.received_at)
                           .count();
  const std::string_view method =
      request_.method() == Verb::unknown ? std::string_view("-")
                                         : std::string_view(request_.method_string());
  state_->RecordResponse(context_.route, method, status, elapsed);
  if (log::Enabled(spdlog::level::info)) {
    // The route label, never the path: paths carry patient and record ids.
    log::Info("http request", {{"request_id", context_.request_id},
                               {"correlation_id", context_.correlation_id},
                               {"method", method},
                               {"route", context_.route},
                               {"status", status},
                               {"duration_ms", elapsed * 1000.0},
                               {"remote", context_.remote_address}});
  }
}

void HttpSession::LingeringClose() {
  phase_ = Phase::kClosing;
  beast::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) return Close();
  discard_buffer_.reset(new char[kDiscardChunk]);
  discarded_ = 0;
  stream_.expires_after(kLingerTime);
  DiscardInput();
}

void HttpSession::DiscardInput() {
  stream_.async_read_some(
      asio::buffer(discard_buffer_.get(), kDiscardChunk),
      [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
        self->discarded_ += bytes;
        if (ec || self->discarded_ > kMaxLingerBytes) return self->Close();
        self->DiscardInput();
      });
}

void HttpSession::Close() {
  if (phase_ == Phase::kUpgraded) return;  // the stream belongs to the upgrade handler
  phase_ = Phase::kClosing;
  deadline_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  stream_.close();
  if (in_flight_ && !awaiting_handler_) {
    in_flight_ = false;
    state_->RequestFinished();
  }
}

}  // namespace nilecare::http
