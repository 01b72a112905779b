// Running a txt2img request on the resident models: per batch (n_iter), `afa generate`'s path from
// options to PNG bytes (pipeline::generate, pipeline::generation_pngs), and A1111's response around them.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "afa/pipeline/load_ensemble.h"
#include "afa/serve/job_queue.h"
#include "afa/serve/txt2img_request.h"

namespace afa::serve {

// What `afa serve` loads once: the models and the server's method (aggregators read).
struct ResidentModels {
  pipeline::LoadedEnsemble models;
  std::vector<std::string> paths;  // as given with -m
  ensemble::MethodOptions method;  // prepared (ensemble::prepare_method)
  ServeContext context() const;
};

// Runs on the queue's worker. Batch k draws with seed + k·batch_size, so it is `afa generate --seed
// (seed + k·batch_size) -b batch_size` with the request's other settings, byte for byte. An interrupt
// ends the running batch's sampling early (its images decoded from the latents reached, as A1111
// does) and skips the batches after it; the response says so in info's "afa_interrupted".
// Response (A1111's): {"images": [base64 PNG, ...], "parameters": {...}, "info": "<JSON text>"}.
JobResult run_txt2img(ResidentModels& resident, const Txt2ImgRequest& request, const JobControl& control);

}  // namespace afa::serve
