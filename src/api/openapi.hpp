// The OpenAPI 3 document served at /api/v1/openapi.json.
#pragma once

#include <string>

namespace selfheal {

// The document as JSON text (paths are relative to the server url "/api/v1").
const std::string& openapi_document();

}  // namespace selfheal
