#pragma once
// One keep-alive connection to an upstream, on its own strand (private to src/http).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>

#include "nilecare/http/asio_types.hpp"
#include "nilecare/http/upstream_pool.hpp"

namespace nilecare::http {

struct UpstreamJob {
  std::shared_ptr<Request> request;
  std::chrono::steady_clock::time_point deadline;
  UpstreamPool::Callback done;
};

class UpstreamConnection;

// What a connection reports to its pool.
class UpstreamConnectionOwner {
 public:
  virtual ~UpstreamConnectionOwner() = default;
  // The job is answered; `reusable` says whether the connection may take another one.
  virtual void OnConnectionFree(const std::shared_ptr<UpstreamConnection>& connection,
                                bool reusable) = 0;
};

class UpstreamConnection : public std::enable_shared_from_this<UpstreamConnection> {
 public:
  UpstreamConnection(boost::asio::io_context& io,
                     std::shared_ptr<const config::UpstreamSettings> settings,
                     std::weak_ptr<UpstreamConnectionOwner> owner);

  // Connects (first job) or reuses the connection, then sends the job.
  void Execute(UpstreamJob job);
  // Called by the pool, under its lock, while the connection is idle (nothing pending on
  // it): false when it sat idle longer than idle_timeout or the upstream has closed it,
  // which a non-blocking MSG_PEEK shows without a read armed per idle period.
  bool StillUsable(std::chrono::steady_clock::time_point now);
  void MarkIdle(std::chrono::steady_clock::time_point now) { idle_since_ = now; }
  void Close();

 private:
  void Resolve();
  void OnResolve(boost::beast::error_code ec,
                 boost::asio::ip::tcp::resolver::results_type results);
  void OnConnect(boost::beast::error_code ec, const boost::asio::ip::tcp::endpoint&);
  void Write();
  void OnWrite(boost::beast::error_code ec, std::size_t);
  void OnRead(boost::beast::error_code ec, std::size_t);
  void Finish(UpstreamResult result, bool reusable);
  void Fail(UpstreamError error, boost::beast::error_code ec, bool not_sent);

  // Shared, not referenced: a busy connection may outlive its pool.
  std::shared_ptr<const config::UpstreamSettings> settings_;
  std::weak_ptr<UpstreamConnectionOwner> owner_;
  Strand strand_;
  StrandResolver resolver_;
  StrandStream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<beast_http::response_parser<beast_http::string_body>> parser_;
  std::optional<UpstreamJob> job_;
  std::string host_header_;
  bool connected_{false};
  std::chrono::steady_clock::time_point idle_since_{};
};

}  // namespace nilecare::http
