#pragma once
// A deliberately low-level HTTP/1.1 client for tests: sends exactly the bytes a test
// writes (malformed requests, oversized headers, slow bodies) and parses what comes back.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace nilecare::testing {

using namespace std::chrono_literals;

struct HttpResult {
  int status{0};
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive{false};

  // Header value by case-insensitive name; empty when absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  nlohmann::json Json() const { return nlohmann::json::parse(body); }
};

class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool Connected() const;
  bool Send(std::string_view bytes);
  // `head_request`: the reply has headers only, whatever its Content-Length says.
  std::optional<HttpResult> ReadResponse(std::chrono::milliseconds timeout = 5s,
                                         bool head_request = false);
  // True when the peer closes (EOF or reset) within `timeout` without sending anything
  // else.
  bool WaitClosed(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection ("Connection: close" added).
std::optional<HttpResult> HttpRequest(
    std::uint16_t port, std::string_view method, std::string_view target,
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    std::string_view body = {}, std::chrono::milliseconds timeout = 5s);

}  // namespace nilecare::testing
