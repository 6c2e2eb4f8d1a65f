#pragma once
// Maps a request path to a handler: exact paths (/health) and segment-aligned prefixes
// (/api/v1/staff matches /api/v1/staff and /api/v1/staff/7, not /api/v1/staffing), the
// longest prefix winning. Answers 400 for unsafe paths, 404 and 405 itself, enveloped.
//
// Unsafe paths are refused before matching, because a prefix decides authentication:
// dot segments (raw or %2e-encoded), encoded slashes or backslashes, NUL, control
// characters and empty segments could otherwise reach a protected upstream path through a
// public prefix once the upstream normalises them.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nilecare/http/types.hpp"

namespace nilecare::http {

struct WebSocketUpgrade;  // nilecare/http/websocket_upgrade.hpp
// Takes over the connection (move out of the argument); runs on the connection's strand.
using UpgradeHandler = std::function<void(WebSocketUpgrade&)>;

// The segments of a SafePath() result ("/a/b/" -> {"a", "b"}): views into `path`.
std::vector<std::string_view> PathSegments(std::string_view path);

class Dispatcher {
 public:
  // `methods` empty = any method. `label` names the route in metrics and logs.
  void AddExact(std::string path, std::vector<Verb> methods, std::string label, Handler handler);
  void AddPrefix(std::string prefix, std::vector<Verb> methods, std::string label,
                 Handler handler);
  // Whole-path patterns whose `*` segments match any one segment
  // ("/api/v1/devices/*/vitals"). They are tried after exact paths and before prefixes, so
  // a gateway endpoint under a proxied prefix (/api/v1/patients/*/vitals/latest beside a
  // /api/v1/patients route) wins; among patterns the first added wins.
  void AddPattern(std::string pattern, std::vector<Verb> methods, std::string label,
                  Handler handler);

  void Dispatch(RequestContext& context, Request& request, Responder respond) const;

  // WebSocket upgrade requests on `prefix` (segment-aligned, as AddPrefix) go to `handler`
  // instead of the HTTP routes; upgrade requests elsewhere are routed as plain requests.
  void AddUpgrade(std::string prefix, std::string label, UpgradeHandler handler);
  // The handler for an upgrade request to `path` (a SafePath result) and its label, or
  // nullptr.
  const UpgradeHandler* FindUpgrade(std::string_view path, std::string_view& label) const;

  // The path part of an origin-form target ("/a/b?x" -> "/a/b") when it is safe to
  // route, else nullopt.
  static std::optional<std::string_view> SafePath(std::string_view target);

 private:
  struct Route {
    std::string pattern;
    std::vector<Verb> methods;
    std::string label;
    Handler handler;
  };
  const Route* Find(std::string_view path) const;

  std::map<std::string, Route, std::less<>> exact_;
  std::vector<Route> patterns_;
  std::vector<Route> prefixes_;  // longest first
  struct Upgrade {
    std::string prefix;
    std::string label;
    UpgradeHandler handler;
  };
  std::vector<Upgrade> upgrades_;
};

}  // namespace nilecare::http
