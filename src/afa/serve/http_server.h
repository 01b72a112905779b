// `afa serve`'s HTTP side (cpp-httplib): AUTOMATIC1111's endpoints over the resident models, the API
// key, the limits, and a clean stop on SIGINT/SIGTERM.
//
//   POST /sdapi/v1/txt2img     queued (one generation at a time), 503 + Retry-After when the queue is full
//   GET  /sdapi/v1/sd-models, /samplers, /schedulers, /progress;  GET|POST /sdapi/v1/options
//   POST /sdapi/v1/interrupt   GET /health (no key needed: for liveness probes)
// Errors are JSON: {"error": kind, "detail": message}; a bad field is 422 with A1111's (FastAPI's)
// detail list [{"loc": ["body", field], "msg": ..., "type": "value_error"}] and "field".
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>

#include "afa/serve/txt2img_job.h"

namespace afa::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 7860;                 // 0: any free port (the one chosen is printed)
  std::string api_key;             // empty: no key
  size_t max_waiting = 4;          // jobs queued behind the running one
  double time_limit_seconds = 3600; // per txt2img request, queue wait included (an SD 1.5 trio on a CPU
                                    // takes tens of minutes per image)
  size_t max_body_bytes = 1 << 20;
  bool log_requests = true;        // one stderr line per request
};

// Whether an HTTP request's credentials carry `key`: "Authorization: Bearer KEY", "X-API-Key: KEY", or
// HTTP Basic (A1111's --api-auth) with "user:password" or the password equal to KEY.
bool key_matches(const std::string& key, const std::string& authorization, const std::string& x_api_key);

// Throws afa::Error naming the option that is out of range (before any model is loaded).
void check(const ServerOptions& options);

// Binds (throws afa::Error when the address cannot be used), prints "listening on http://HOST:PORT" on
// stdout, and serves until SIGINT or SIGTERM: then it stops taking requests, cancels the running job at
// its next step and the queued ones (their clients get 503), and returns.
void serve(ResidentModels& resident, const ServerOptions& options);

}  // namespace afa::serve
