#pragma once
// Builders for enveloped HTTP responses (see core/envelope.hpp).

#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "nilecare/core/envelope.hpp"
#include "nilecare/http/types.hpp"

namespace nilecare::http {

Response JsonResponse(Status status, const nlohmann::json& body, unsigned version = 11);
Response SuccessResponse(const RequestContext& context, Status status, std::string_view message,
                         nlohmann::json data);
Response ErrorResponse(const RequestContext& context, Status status, std::string_view code,
                       std::string_view message, nlohmann::json details = nullptr);
// 400 VALIDATION_ERROR naming what was wrong: error.details {field, reason}.
Response InvalidFieldResponse(const RequestContext& context, std::string_view field,
                              std::string_view reason, std::string_view message);
// Error with error.retry_after (ms) in the body and a Retry-After header (seconds, rounded up).
Response RetryLaterResponse(const RequestContext& context, Status status, std::string_view code,
                            std::string_view message, std::chrono::milliseconds retry_after,
                            nlohmann::json details = nullptr);

}  // namespace nilecare::http
