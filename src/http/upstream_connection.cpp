#include "upstream_connection.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/dispatch.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace nilecare::http {
namespace asio = boost::asio;
namespace beast = boost::beast;

UpstreamConnection::UpstreamConnection(asio::io_context& io,
                                       std::shared_ptr<const config::UpstreamSettings> settings,
                                       std::weak_ptr<UpstreamConnectionOwner> owner)
    : settings_(std::move(settings)),
      owner_(std::move(owner)),
      strand_(asio::make_strand(io)),
      resolver_(strand_),
      stream_(strand_) {
  // RFC 9110 §7.2: the port unless it is the scheme's default; IPv6 literals in brackets.
  const bool ipv6 = settings_->host.find(':') != std::string::npos;
  host_header_ = ipv6 ? "[" + settings_->host + "]" : settings_->host;
  if (settings_->port != 80) host_header_ += ":" + std::to_string(settings_->port);
}

void UpstreamConnection::Execute(UpstreamJob job) {
  asio::dispatch(strand_, [self = shared_from_this(), job = std::move(job)]() mutable {
    self->job_ = std::move(job);
    if (self->connected_) {
      self->Write();
    } else {
      self->Resolve();
    }
  });
}

void UpstreamConnection::Resolve() {
  const auto connect_deadline =
      std::min(job_->deadline, std::chrono::steady_clock::now() + settings_->connect_timeout);
  stream_.expires_at(connect_deadline);
  resolver_.async_resolve(settings_->host, std::to_string(settings_->port),
                          beast::bind_front_handler(&UpstreamConnection::OnResolve,
                                                    shared_from_this()));
}

void UpstreamConnection::OnResolve(beast::error_code ec,
                                   asio::ip::tcp::resolver::results_type results) {
  if (ec) return Fail(UpstreamError::kConnect, ec, true);
  stream_.async_connect(results, beast::bind_front_handler(&UpstreamConnection::OnConnect,
                                                           shared_from_this()));
}

void UpstreamConnection::OnConnect(beast::error_code ec, const asio::ip::tcp::endpoint&) {
  if (ec) {
    return Fail(ec == beast::error::timeout ? UpstreamError::kTimeout : UpstreamError::kConnect,
                ec, true);
  }
  connected_ = true;
  beast::error_code ignored;
  stream_.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  Write();
}

void UpstreamConnection::Write() {
  stream_.expires_at(job_->deadline);
  job_->request->set(beast_http::field::host, host_header_);
  job_->request->keep_alive(true);
  job_->request->prepare_payload();
  beast_http::async_write(stream_, *job_->request,
                          beast::bind_front_handler(&UpstreamConnection::OnWrite,
                                                    shared_from_this()));
}

void UpstreamConnection::OnWrite(beast::error_code ec, std::size_t) {
  if (ec) {
    return Fail(ec == beast::error::timeout ? UpstreamError::kTimeout : UpstreamError::kNetwork,
                ec, false);
  }
  parser_.emplace();
  parser_->body_limit(settings_->max_response_body);
  parser_->header_limit(64 * 1024);
  if (job_->request->method() == Verb::head) parser_->skip(true);
  buffer_.clear();
  beast_http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&UpstreamConnection::OnRead,
                                                   shared_from_this()));
}

void UpstreamConnection::OnRead(beast::error_code ec, std::size_t) {
  if (ec) {
    if (ec == beast::error::timeout) return Fail(UpstreamError::kTimeout, ec, false);
    if (ec == beast_http::error::body_limit || ec == beast_http::error::header_limit ||
        (ec.category() == beast_http::make_error_code(beast_http::error::bad_method).category() &&
         ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message)) {
      return Fail(UpstreamError::kBadResponse, ec, false);
    }
    return Fail(UpstreamError::kNetwork, ec, false);
  }
  UpstreamResult result;
  result.response = parser_->release();
  parser_.reset();
  const bool reusable = result.response.keep_alive() && buffer_.size() == 0;
  Finish(std::move(result), reusable);
}

void UpstreamConnection::Fail(UpstreamError error, beast::error_code ec, bool not_sent) {
  UpstreamResult result;
  result.error = error;
  result.not_sent = not_sent;
  result.detail = ec.message();
  Finish(std::move(result), false);
}

void UpstreamConnection::Finish(UpstreamResult result, bool reusable) {
  stream_.expires_never();
  if (!reusable) {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.close();
    connected_ = false;
  }
  auto job = std::move(*job_);
  job_.reset();
  // Return the connection before answering: the answer may queue the next attempt.
  if (auto owner = owner_.lock()) owner->OnConnectionFree(shared_from_this(), reusable);
  job.done(std::move(result));
}

bool UpstreamConnection::StillUsable(std::chrono::steady_clock::time_point now) {
  if (!connected_ || now - idle_since_ >= settings_->idle_timeout) return false;
  char byte = 0;
  const auto received =
      ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // 0: the upstream closed it; data: an unsolicited reply, so the stream is out of step;
  // EAGAIN: alive and quiet, the only usable case.
  return received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void UpstreamConnection::Close() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    self->connected_ = false;
    beast::error_code ignored;
    self->stream_.socket().close(ignored);
  });
}

}  // namespace nilecare::http
