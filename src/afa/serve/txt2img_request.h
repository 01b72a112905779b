// A POST /sdapi/v1/txt2img body, read as AUTOMATIC1111 reads it: its field names and JSON types, null the
// same as absent, unknown fields ignored; a bad value is a RequestError naming the field (HTTP 422).
// Settings that only the models can check (the size's multiple, the method against the number of
// models) are checked here too, so that a bad request never waits in the queue.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "afa/ensemble/make_denoiser.h"
#include "afa/pipeline/text_to_image.h"
#include "afa/util/error.h"

namespace afa::serve {

class RequestError : public afa::Error {
 public:
  RequestError(std::string field, const std::string& message)
      : afa::Error(field + ": " + message), field_(std::move(field)), message_(message) {}
  const std::string& field() const { return field_; }
  const std::string& message() const { return message_; }

 private:
  std::string field_, message_;
};

// What the server knows when it reads a request: its models and its default method.
struct ServeContext {
  size_t num_models = 1;
  int64_t vae_factor = 8;
  int64_t native_size = 512;          // width/height when the request gives none
  ensemble::MethodOptions method;     // the server's method (--method/--aggregator/--mf-*), prepared
  bool has_aggregators = false;       // afa_method "afa" is possible
};

struct Txt2ImgRequest {
  pipeline::GenerateOptions options;  // batch = batch_size; seed = the first batch's (resolved when -1)
  int64_t n_iter = 1;                 // batches, run one after the other, batch k with seed + k·batch_size
  nlohmann::json requested_seed = -1; // as given (A1111 echoes -1)
  bool send_images = true;
  ensemble::MethodOptions method;     // resolved from the server's and the afa_* fields
  nlohmann::json parameters;          // the request's fields with defaults filled, echoed back
};

// The request defaults (afa generate's, but seed -1 = random as A1111's).
constexpr int64_t kDefaultSteps = 20;
constexpr double kDefaultCfgScale = 7.5;
constexpr const char* kDefaultSampler = "dpm++2m";
constexpr int64_t kMaxSteps = 1000, kMaxBatchSize = 64, kMaxIterations = 100;

// Throws RequestError for a body that is not a JSON object or holds a bad value.
Txt2ImgRequest parse_txt2img(const std::string& body, const ServeContext& context);
Txt2ImgRequest parse_txt2img(const nlohmann::json& body, const ServeContext& context);

}  // namespace afa::serve
