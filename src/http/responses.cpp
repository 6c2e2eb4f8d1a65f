#include "nilecare/http/responses.hpp"

#include "nilecare/core/errors.hpp"

#include <nlohmann/json.hpp>

namespace nilecare::http {
namespace {

int StatusCode(Status status) { return static_cast<int>(status); }

}  // namespace

Response JsonResponse(Status status, const nlohmann::json& body, unsigned version) {
  Response response{status, version};
  response.set(beast_http::field::content_type, "application/json; charset=utf-8");
  response.set(beast_http::field::cache_control, "no-store");
  // Replacement characters instead of an exception: a reply must always go out.
  response.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Response SuccessResponse(const RequestContext& context, Status status, std::string_view message,
                         nlohmann::json data) {
  return JsonResponse(
      status, core::SuccessEnvelope(StatusCode(status), message, std::move(data),
                                    context.request_id));
}

Response ErrorResponse(const RequestContext& context, Status status, std::string_view code,
                       std::string_view message, nlohmann::json details) {
  core::ErrorInfo info{std::string(code), std::move(details), std::nullopt};
  return JsonResponse(status,
                      core::ErrorEnvelope(StatusCode(status), message, info, context.request_id));
}

Response RetryLaterResponse(const RequestContext& context, Status status, std::string_view code,
                            std::string_view message, std::chrono::milliseconds retry_after,
                            nlohmann::json details) {
  core::ErrorInfo info{std::string(code), std::move(details), retry_after};
  auto response = JsonResponse(
      status, core::ErrorEnvelope(StatusCode(status), message, info, context.request_id));
  const auto seconds = (retry_after.count() + 999) / 1000;
  response.set(beast_http::field::retry_after, std::to_string(seconds < 1 ? 1 : seconds));
  return response;
}

Response InvalidFieldResponse(const RequestContext& context, std::string_view field,
                              std::string_view reason, std::string_view message) {
  return ErrorResponse(context, Status::bad_request, core::error_code::kValidationError, message,
                       {{"field", field}, {"reason", reason}});
}

}  // namespace nilecare::http
