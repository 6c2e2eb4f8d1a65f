#pragma once
// Turns an upstream reply into the gateway's reply (the envelope rules of the REST issue):
//   - JSON that already is a NileCareResponse passes through, its request_id aligned;
//   - other JSON is wrapped: as `data` when the status is below 400, else as
//     `error.details` with a code derived from the status;
//   - non-JSON bodies (PDF reports, CSV exports) pass through untouched with their
//     content type, unless the status is an error: then the text goes into error.details;
//   - compressed bodies are never rewritten (they pass through).
// Upstream 5xx keep their status with code UPSTREAM_ERROR.

#include <string_view>

#include "nilecare/http/types.hpp"

namespace nilecare::rest {

// The envelope error code for an upstream error status.
std::string_view ErrorCodeForStatus(unsigned status);

http::Response MapUpstreamResponse(http::Response&& upstream, const http::RequestContext& context);

}  // namespace nilecare::rest
