// The JSON that AUTOMATIC1111's web API answers on its read-only endpoints, for afa's resident ensemble:
// what its clients read to list models and samplers and to show progress.
#pragma once

#include <nlohmann/json.hpp>

#include "afa/serve/job_queue.h"
#include "afa/serve/txt2img_job.h"

namespace afa::serve {

// GET /sdapi/v1/sd-models: the ensemble as one model (its title is "A + B + C", the name in the PNGs),
// with afa_models (the -m paths) and afa_method.
nlohmann::json sd_models_json(const ResidentModels& resident);

// GET /sdapi/v1/samplers: [{"name": A1111 label, "aliases": [afa's names], "options": {}}, ...].
nlohmann::json samplers_json();

// GET /sdapi/v1/schedulers (A1111 1.9's noise schedules): only "Automatic", each sampler's own schedule.
nlohmann::json schedulers_json();

// GET /sdapi/v1/progress: progress (0..1 over all batches), eta_relative (seconds, A1111's estimate
// elapsed/progress - elapsed), state {job, job_count, job_no, sampling_step, sampling_steps,
// interrupted, ...}; afa_waiting: the jobs queued behind the running one.
nlohmann::json progress_json(const Progress& p);

// GET /sdapi/v1/options: the few options clients read (sd_model_checkpoint).
nlohmann::json options_json(const ResidentModels& resident);

}  // namespace afa::serve
