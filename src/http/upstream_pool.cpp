#include "nilecare/http/upstream_pool.hpp"

#include <algorithm>
#include <deque>
#include <mutex>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "upstream_connection.hpp"

namespace nilecare::http {

config::UpstreamSettings ServiceEndpointSettings(std::string name, std::string url,
                                                 std::string host, std::uint16_t port,
                                                 config::Duration timeout) {
  config::UpstreamSettings upstream;
  upstream.name = std::move(name);
  upstream.url = std::move(url);
  upstream.host = std::move(host);
  upstream.port = port;
  upstream.connect_timeout = timeout;
  upstream.max_response_body = 64 * 1024;
  return upstream;
}

namespace asio = boost::asio;

std::string_view ToString(UpstreamError error) {
  switch (error) {
    case UpstreamError::kNone: return "ok";
    case UpstreamError::kConnect: return "connect";
    case UpstreamError::kNetwork: return "network";
    case UpstreamError::kTimeout: return "timeout";
    case UpstreamError::kSaturated: return "saturated";
    case UpstreamError::kBadResponse: return "bad_response";
    case UpstreamError::kShutdown: return "shutdown";
  }
  return "unknown";
}

struct UpstreamPool::Core final : UpstreamConnectionOwner,
                                  std::enable_shared_from_this<UpstreamPool::Core> {
  Core(asio::io_context& io_in, const config::UpstreamSettings& settings_in,
       observability::MetricsRegistry& metrics)
      : io(io_in),
        settings(std::make_shared<const config::UpstreamSettings>(settings_in)),
        open_gauge(metrics.GetGauge("nilecare_upstream_connections",
                                    "Open connections to an upstream",
                                    {{"upstream", settings_in.name}})),
        pending_gauge(metrics.GetGauge("nilecare_upstream_pending_requests",
                                       "Requests waiting for a free upstream connection",
                                       {{"upstream", settings_in.name}})),
        saturated(metrics.GetCounter("nilecare_upstream_saturated_total",
                                     "Requests refused because max_connections and "
                                     "max_pending were reached",
                                     {{"upstream", settings_in.name}})) {}

  void Send(UpstreamJob job) {
    std::shared_ptr<UpstreamConnection> connection;
    std::unique_lock lock(mutex);
    if (shutting_down) {
      lock.unlock();
      return Refuse(std::move(job), UpstreamError::kShutdown, "pool shutting down");
    }
    const auto now = std::chrono::steady_clock::now();
    while (!idle.empty() && !connection) {
      connection = std::move(idle.back());
      idle.pop_back();
      if (!connection->StillUsable(now)) {
        connection->Close();
        connection.reset();
        --open;
        open_gauge.Set(static_cast<double>(open));
      }
    }
    if (!connection && open < settings->max_connections) {
      ++open;
      open_gauge.Set(static_cast<double>(open));
      connection = std::make_shared<UpstreamConnection>(io, settings, weak_from_this());
    }
    if (!connection) {
      if (pending.size() < settings->max_pending) {
        pending.push_back(std::move(job));
        pending_gauge.Set(static_cast<double>(pending.size()));
        return;
      }
      lock.unlock();
      saturated.Inc();
      return Refuse(std::move(job), UpstreamError::kSaturated, "no free connection");
    }
    lock.unlock();
    connection->Execute(std::move(job));
  }

  static void Refuse(UpstreamJob job, UpstreamError error, std::string detail) {
    UpstreamResult result;
    result.error = error;
    result.not_sent = true;
    result.detail = std::move(detail);
    job.done(std::move(result));
  }

  // The next queued job whose deadline has not passed; expired ones are answered.
  std::optional<UpstreamJob> NextPending(std::vector<UpstreamJob>& expired) {
    const auto now = std::chrono::steady_clock::now();
    while (!pending.empty()) {
      UpstreamJob job = std::move(pending.front());
      pending.pop_front();
      if (job.deadline <= now) {
        expired.push_back(std::move(job));
        continue;
      }
      pending_gauge.Set(static_cast<double>(pending.size()));
      return job;
    }
    pending_gauge.Set(0);
    return std::nullopt;
  }

  void OnConnectionFree(const std::shared_ptr<UpstreamConnection>& connection,
                        bool reusable) override {
    std::vector<UpstreamJob> expired;
    std::optional<UpstreamJob> next;
    std::shared_ptr<UpstreamConnection> runner = connection;
    {
      std::lock_guard lock(mutex);
      next = NextPending(expired);
      if (!reusable) {
        if (next && !shutting_down) {
          // Replace the broken connection for the waiting job.
          runner = std::make_shared<UpstreamConnection>(io, settings, weak_from_this());
        } else {
          --open;
          open_gauge.Set(static_cast<double>(open));
          runner.reset();
        }
      } else if (!next) {
        if (shutting_down) {
          --open;
          open_gauge.Set(static_cast<double>(open));
          connection->Close();
        } else {
          connection->MarkIdle(std::chrono::steady_clock::now());
          idle.push_back(connection);
        }
        runner.reset();
      }
    }
    for (auto& job : expired) {
      UpstreamResult result;
      result.error = UpstreamError::kTimeout;
      result.not_sent = true;
      result.detail = "deadline passed while waiting for a connection";
      // Posted: the caller of OnConnectionFree is about to answer its own job.
      asio::post(io, [job = std::move(job), result = std::move(result)]() mutable {
        job.done(std::move(result));
      });
    }
    if (next && runner) runner->Execute(std::move(*next));
  }

  void Shutdown() {
    std::deque<UpstreamJob> queued;
    std::vector<std::shared_ptr<UpstreamConnection>> idle_now;
    {
      std::lock_guard lock(mutex);
      shutting_down = true;
      queued.swap(pending);
      idle_now.swap(idle);
      open -= idle_now.size();
      open_gauge.Set(static_cast<double>(open));
      pending_gauge.Set(0);
    }
    for (auto& connection : idle_now) connection->Close();
    for (auto& job : queued) Refuse(std::move(job), UpstreamError::kShutdown, "pool shutting down");
  }

  asio::io_context& io;
  std::shared_ptr<const config::UpstreamSettings> settings;
  observability::Gauge& open_gauge;
  observability::Gauge& pending_gauge;
  observability::Counter& saturated;
  mutable std::mutex mutex;
  std::vector<std::shared_ptr<UpstreamConnection>> idle;  // LIFO: the warmest first
  std::deque<UpstreamJob> pending;
  std::size_t open{0};
  bool shutting_down{false};
};

UpstreamPool::UpstreamPool(asio::io_context& io, const config::UpstreamSettings& settings,
                           observability::MetricsRegistry& metrics)
    : core_(std::make_shared<Core>(io, settings, metrics)) {}

UpstreamPool::~UpstreamPool() { core_->Shutdown(); }

void UpstreamPool::Send(std::shared_ptr<Request> request,
                        std::chrono::steady_clock::time_point deadline, Callback done) {
  core_->Send(UpstreamJob{std::move(request), deadline, std::move(done)});
}

void UpstreamPool::Shutdown() { core_->Shutdown(); }

const config::UpstreamSettings& UpstreamPool::Settings() const { return *core_->settings; }

std::size_t UpstreamPool::OpenConnections() const {
  std::lock_guard lock(core_->mutex);
  return core_->open;
}

std::size_t UpstreamPool::PendingRequests() const {
  std::lock_guard lock(core_->mutex);
  return core_->pending.size();
}

}  // namespace nilecare::http
