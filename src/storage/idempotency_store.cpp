#include "nilecare/storage/idempotency_store.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

#include "nilecare/observability/log.hpp"

namespace nilecare::storage {
namespace log = observability::log;
using Json = nlohmann::json;

namespace {

// SET NX can lose the race against a lock that expires or is abandoned between our SET and
// GET; after this many tries the request is told to come back (409), which is safe.
constexpr int kMaxBeginAttempts = 3;
// Fingerprints of this shape are stored as given; anything else is hashed first, so the
// lock value (compared byte for byte by the scripts) never depends on JSON escaping.
constexpr std::size_t kMaxPlainFingerprint = 128;

// Compare-and-write: only the request holding the lock (same fingerprint, still in
// progress) may store its reply or release the lock.
constexpr const char* kCompleteScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0";
constexpr const char* kAbandonScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

std::string NormalizeFingerprint(const std::string& fingerprint) {
  const bool plain = !fingerprint.empty() && fingerprint.size() <= kMaxPlainFingerprint &&
                     std::all_of(fingerprint.begin(), fingerprint.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                              c == '+' || c == '/' || c == '=' || c == ':' || c == '.';
                     });
  return plain ? fingerprint : Sha256Hex(fingerprint);
}

std::string LockValue(const std::string& fingerprint) {
  return Json{{"state", "in_progress"}, {"fp", fingerprint}}.dump();
}

// Metadata as one JSON line, then the body raw: bodies may be binary (a PDF), which JSON
// strings cannot hold without base64 and its third more memory.
std::string CompletedValue(const std::string& fingerprint, const StoredResponse& response,
                           std::size_t max_body) {
  const bool too_large = response.body.size() > max_body;
  Json headers = Json::array();
  for (const auto& [name, value] : response.headers) headers.push_back(Json::array({name, value}));
  Json meta{{"state", "completed"},
            {"fp", fingerprint},
            {"status", response.status},
            {"headers", std::move(headers)},
            {"body_too_large", too_large}};
  // Header bytes that are not UTF-8 (rare obs-text) become U+FFFD instead of throwing.
  std::string value = meta.dump(-1, ' ', false, Json::error_handler_t::replace);
  value.push_back('\n');
  if (!too_large) value += response.body;
  return value;
}

IdempotencyResult Decide(const std::string& value, const std::string& fingerprint,
                         const std::string& key_hash) {
  const auto newline = value.find('\n');
  try {
    const Json meta = Json::parse(value.substr(0, newline));
    const auto state = meta.at("state").get<std::string>();
    if (meta.at("fp").get<std::string>() != fingerprint)
      return {IdempotencyOutcome::kKeyReused, {}};
    if (state == "in_progress") return {IdempotencyOutcome::kInProgress, {}};
    if (state == "completed") {
      StoredResponse stored;
      stored.status = meta.at("status").get<int>();
      for (const auto& header : meta.at("headers")) {
        stored.headers.emplace_back(header.at(0).get<std::string>(),
                                    header.at(1).get<std::string>());
      }
      stored.body_too_large = meta.value("body_too_large", false);
      if (newline != std::string::npos) stored.body = value.substr(newline + 1);
      return {IdempotencyOutcome::kReplay, std::move(stored)};
    }
  } catch (const Json::exception&) {
  }
  // Written by something else, or by an incompatible version: fail closed.
  log::Error("idempotency record unreadable", {{"key_hash", key_hash}});
  return {IdempotencyOutcome::kUnavailable, {}};
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}


namespace detail {

struct IdempotencyState {
  std::shared_ptr<RedisClient> redis;
  config::IdempotencySettings settings;
  std::string key_prefix;
  std::chrono::milliseconds lock_ttl;

  std::string RedisKey(const std::string& key_hash) const {
    return key_prefix + "idem:" + key_hash;
  }
};

}  // namespace detail

namespace {

using StatePtr = std::shared_ptr<const detail::IdempotencyState>;

}  // namespace

IdempotencyStore::IdempotencyStore(std::shared_ptr<RedisClient> redis,
                                   const config::IdempotencySettings& settings,
                                   std::string key_prefix, std::chrono::milliseconds lock_ttl) {
  if (!redis) throw std::invalid_argument("IdempotencyStore needs a Redis client");
  if (settings.ttl.count() <= 0 || lock_ttl.count() <= 0) {
    throw std::invalid_argument("idempotency ttl and lock ttl must be positive");
  }
  state_ = std::make_shared<const detail::IdempotencyState>(
      detail::IdempotencyState{std::move(redis), settings, std::move(key_prefix), lock_ttl});
}

namespace {

void TryLock(StatePtr state, std::string key_hash, std::string fingerprint, int attempt,
             std::function<void(IdempotencyResult)> done);

void ReadExisting(StatePtr state, std::string key_hash, std::string fingerprint, int attempt,
                  std::function<void(IdempotencyResult)> done) {
  // Arguments first: the callback below takes `state` and `key_hash` by move.
  std::vector<std::string> args{"GET", state->RedisKey(key_hash)};
  auto& redis = *state->redis;
  redis.Command(std::move(args), [state = std::move(state), key_hash = std::move(key_hash),
                                  fingerprint = std::move(fingerprint), attempt,
                                  done = std::move(done)](RedisReply reply) mutable {
    if (reply.type == RedisReply::Type::kString) {
      done(Decide(reply.text, fingerprint, key_hash));
    } else if (reply.type == RedisReply::Type::kNil) {
      // Expired or abandoned since our SET NX: try to take it again.
      if (attempt + 1 < kMaxBeginAttempts) {
        TryLock(std::move(state), std::move(key_hash), std::move(fingerprint), attempt + 1,
                std::move(done));
      } else {
        done({IdempotencyOutcome::kInProgress, {}});
      }
    } else {
      log::Debug("idempotency store unavailable", {{"error", reply.text}});
      done({IdempotencyOutcome::kUnavailable, {}});
    }
  });
}

void TryLock(StatePtr state, std::string key_hash, std::string fingerprint, int attempt,
             std::function<void(IdempotencyResult)> done) {
  std::vector<std::string> args{"SET",
                                state->RedisKey(key_hash),
                                LockValue(fingerprint),
                                "NX",
                                "PX",
                                std::to_string(state->lock_ttl.count())};
  auto& redis = *state->redis;
  redis.Command(std::move(args), [state = std::move(state), key_hash = std::move(key_hash),
                                  fingerprint = std::move(fingerprint), attempt,
                                  done = std::move(done)](RedisReply reply) mutable {
    if (reply.type == RedisReply::Type::kStatus) {
      done({IdempotencyOutcome::kStarted, {}});
    } else if (reply.type == RedisReply::Type::kNil) {
      ReadExisting(std::move(state), std::move(key_hash), std::move(fingerprint), attempt,
                   std::move(done));
    } else {
      log::Debug("idempotency store unavailable", {{"error", reply.text}});
      done({IdempotencyOutcome::kUnavailable, {}});
    }
  });
}

void RunScript(const StatePtr& state, std::vector<std::string> args, const char* failure_message,
               std::string key_hash, std::function<void(bool)> done) {
  state->redis->Command(std::move(args), [failure_message, key_hash = std::move(key_hash),
                                          done = std::move(done)](RedisReply reply) {
    const bool ok = reply.type == RedisReply::Type::kInteger && reply.integer == 1;
    if (!ok && failure_message != nullptr) {
      log::Warn(
          failure_message,
          {{"key_hash", key_hash},
           {"error", reply.IsError() ? reply.text : std::string("not locked by this request")}});
    }
    if (done) done(ok);
  });
}

}  // namespace

void IdempotencyStore::Begin(const std::string& key, const std::string& fingerprint,
                             std::function<void(IdempotencyResult)> done) {
  if (!done) done = [](IdempotencyResult) {};
  TryLock(state_, Sha256Hex(key), NormalizeFingerprint(fingerprint), 0, std::move(done));
}

void IdempotencyStore::Complete(const std::string& key, const std::string& fingerprint,
                                const StoredResponse& response, std::function<void(bool ok)> done) {
  const std::string fp = NormalizeFingerprint(fingerprint);
  std::string key_hash = Sha256Hex(key);
  std::vector<std::string> args{"EVAL",
                                kCompleteScript,
                                "1",
                                state_->RedisKey(key_hash),
                                LockValue(fp),
                                CompletedValue(fp, response, state_->settings.max_stored_body),
                                std::to_string(state_->settings.ttl.count())};
  RunScript(state_, std::move(args), "idempotency reply not stored", std::move(key_hash),
            std::move(done));
}

void IdempotencyStore::Abandon(const std::string& key, const std::string& fingerprint,
                               std::function<void(bool ok)> done) {
  std::string key_hash = Sha256Hex(key);
  std::vector<std::string> args{"EVAL", kAbandonScript, "1", state_->RedisKey(key_hash),
                                LockValue(NormalizeFingerprint(fingerprint))};
  // Nothing to release is normal here (the lock expired), hence no log line.
  RunScript(state_, std::move(args), nullptr, std::move(key_hash), std::move(done));
}

}  // namespace nilecare::storage
