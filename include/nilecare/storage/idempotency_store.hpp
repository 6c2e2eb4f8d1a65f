#pragma once
// Idempotency records in Redis (issue 3, spec "Best practices" §3). Configured by
//   idempotency: { ttl: 24h, max_stored_body: 1MiB }   (needs `redis:`)
//   redis: { key_prefix: "nilecare:" }                  keys: <prefix>idem:<sha256 hex>
//
// Flow for a POST/PATCH carrying an Idempotency-Key (the caller rejects keys longer than
// kMaxIdempotencyKeyLength with 400 before getting here):
//   Begin     kStarted     -> run the request, then Complete (2xx-4xx) or Abandon (network
//                             error / 5xx: not stored, the client may retry)
//             kInProgress  -> 409 IDEMPOTENCY_IN_PROGRESS
//             kReplay      -> the stored reply with Idempotent-Replayed: true
//             kKeyReused   -> 422 IDEMPOTENCY_KEY_REUSED (same key, another body)
//             kUnavailable -> 503: fail closed rather than risk running a payment twice
//
// The record is a lock first ({"state":"in_progress","fp":...}, expiring after lock_ttl so
// a crashed gateway does not block a key for a day), then the stored reply for `ttl`.
// Complete and Abandon act only on an in-progress lock with the same fingerprint (a Lua
// script checks and writes atomically): a request whose lock expired and was taken over
// can neither overwrite nor delete the other request's record.
//
// Replies with a body larger than max_stored_body are stored without their body
// (body_too_large): a repeat answers kReplay with the original status and headers, an empty
// body and body_too_large set. The request is NOT run again; the caller answers with the
// stored status and a short envelope saying the original body cannot be replayed.
//
// Keys are always hashed: the caller's scope (user id, method, path, key) may be long, and
// paths can carry patient ids that have no business in Redis key names.
//
// Callbacks run on the Redis client's strand (see redis_client.hpp); each is invoked
// exactly once. The store may be destroyed while calls are in flight.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nilecare/config/settings.hpp"
#include "nilecare/storage/redis_client.hpp"

namespace nilecare::storage {

namespace detail {
struct IdempotencyState;
}

// Longest Idempotency-Key header a caller should accept (Stripe's limit); longer -> 400.
inline constexpr std::size_t kMaxIdempotencyKeyLength = 255;

struct StoredResponse {
  int status{0};
  std::vector<std::pair<std::string, std::string>> headers;  // selected ones; not Content-Length
  std::string body;                                          // binary-safe
  bool body_too_large{false};  // on replay: the body was over max_stored_body and is empty
};

enum class IdempotencyOutcome { kStarted, kInProgress, kReplay, kKeyReused, kUnavailable };

struct IdempotencyResult {
  IdempotencyOutcome outcome;
  std::optional<StoredResponse> stored;  // set for kReplay only
};

// SHA-256 of `bytes` as lower-case hex: the request-body fingerprint callers pass to Begin().
std::string Sha256Hex(std::string_view bytes);

class IdempotencyStore {
 public:
  // Must outlast the slowest request that can hold a lock, or a still-running request's
  // lock expires and a repeat runs it a second time: pass the longest route timeout class
  // (reports: 120 s by default) plus a margin.
  static constexpr std::chrono::milliseconds kDefaultLockTtl{std::chrono::minutes(2)};

  IdempotencyStore(std::shared_ptr<RedisClient> redis, const config::IdempotencySettings& settings,
                   std::string key_prefix, std::chrono::milliseconds lock_ttl = kDefaultLockTtl);

  // `key`: the caller's scope (user id, method, path, Idempotency-Key). `fingerprint`: a
  // hash of the request body (e.g. SHA-256 hex); anything else is hashed again here.
  void Begin(const std::string& key, const std::string& fingerprint,
             std::function<void(IdempotencyResult)> done);
  // Stores the final reply for settings.ttl. `ok` is false when the lock was no longer
  // ours (expired, taken over) or Redis failed; the reply is then not replayable.
  void Complete(const std::string& key, const std::string& fingerprint,
                const StoredResponse& response, std::function<void(bool ok)> done = {});
  // Releases our lock so the client may retry. `ok` is false when there was no lock of ours
  // to release (a completed record is never removed).
  void Abandon(const std::string& key, const std::string& fingerprint,
               std::function<void(bool ok)> done = {});

 private:
  // Shared with the callbacks in flight, which may outlive the store.
  std::shared_ptr<const detail::IdempotencyState> state_;
};

}  // namespace nilecare::storage
