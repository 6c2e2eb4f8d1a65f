#include "nilecare/core/envelope.hpp"

#include "nilecare/core/clock.hpp"

namespace nilecare::core {
namespace {

nlohmann::json BaseEnvelope(int status, bool success, std::string_view message) {
  nlohmann::json body = nlohmann::json::object();
  body["status"] = status;
  body["success"] = success;
  body["message"] = message;
  return body;
}

void Finish(nlohmann::json& body, std::string_view request_id) {
  body["timestamp"] = NowIso8601();
  body["request_id"] = request_id;
}

}  // namespace

nlohmann::json SuccessEnvelope(int status, std::string_view message, nlohmann::json data,
                               std::string_view request_id) {
  nlohmann::json body = BaseEnvelope(status, true, message);
  body["data"] = std::move(data);
  Finish(body, request_id);
  return body;
}

nlohmann::json ErrorEnvelope(int status, std::string_view message, const ErrorInfo& error,
                             std::string_view request_id) {
  nlohmann::json body = BaseEnvelope(status, false, message);
  nlohmann::json& info = body["error"];
  info["code"] = error.code;
  if (!error.details.is_null()) info["details"] = error.details;
  if (error.retry_after) info["retry_after"] = error.retry_after->count();
  Finish(body, request_id);
  return body;
}

bool IsEnvelope(const nlohmann::json& body) {
  if (!body.is_object()) return false;
  const auto status = body.find("status");
  const auto success = body.find("success");
  if (status == body.end() || !status->is_number_integer()) return false;
  if (success == body.end() || !success->is_boolean()) return false;
  if (!body.contains("timestamp")) return false;
  return success->get<bool>() ? body.contains("data") : body.contains("error");
}

std::string_view DefaultMessage(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad request";
    case 401: return "Authentication required";
    case 403: return "Forbidden";
    case 404: return "Not found";
    case 405: return "Method not allowed";
    case 408: return "Request timeout";
    case 409: return "Conflict";
    case 413: return "Payload too large";
    case 417: return "Expectation failed";
    case 422: return "Unprocessable entity";
    case 429: return "Too many requests";
    case 431: return "Request header fields too large";
    case 500: return "Internal server error";
    case 502: return "Bad gateway";
    case 503: return "Service unavailable";
    case 504: return "Gateway timeout";
    default: return status < 400 ? "OK" : "Error";
  }
}

}  // namespace nilecare::core
