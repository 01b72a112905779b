// afa serve: AUTOMATIC1111's web API over an ensemble loaded once (src/afa/serve/).
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "afa/merge/lora_apply.h"
#include "afa/pipeline/load_ensemble.h"
#include "afa/serve/http_server.h"
#include "commands.h"
#include "options.h"

namespace afa::app {

namespace {

struct ServeArgs {
  std::vector<std::string> models, configs, loras;
  MethodArgs method;
  serve::ServerOptions server;
  std::string device = "cpu", dtype = "f32";
  int threads = 0;
  bool quiet = false;
};

int run_serve(ServeArgs a) {
  set_threads(a.threads);
  // Everything that can be checked before the slow loading.
  resolve_method_options(a.method);
  auto& method = a.method.method;
  // The guidance scale comes with each request; MagicFusion's need for one > 1 is checked there.
  ensemble::prepare_method(method, a.models.size(), 7.5);
  serve::check(a.server);
  if (a.server.api_key.empty())
    if (const char* k = std::getenv("AFA_API_KEY")) a.server.api_key = k;
  std::vector<merge::LoraSpec> loras;
  for (const auto& l : a.loras) {
    loras.push_back(merge::parse_lora_spec(l));
    AFA_CHECK(std::filesystem::is_regular_file(loras.back().path), loras.back().path, ": no such file (--lora)");
  }

  serve::ResidentModels resident;
  pipeline::EnsembleLoadOptions lo;
  lo.load.config_files = a.configs;
  lo.load.device = parse_device(a.device);
  lo.load.dtype = parse_dtype(a.dtype, lo.load.device);
  lo.progress = !a.quiet;
  resident.models = pipeline::load_ensemble(a.models, lo);
  for (auto& m : resident.models.models) merge::bake_loras_into(m, loras, a.configs);
  resident.paths = a.models;
  resident.method = method;
  resident.context();  // a first model without a VAE fails here, not at the first request

  const std::string where = a.server.host;
  if (where != "127.0.0.1" && where != "localhost" && where != "::1" && a.server.api_key.empty())
    std::cerr << "warning: listening on " << where << " without --api-key: anyone who can reach it can use it\n";
  std::cerr << "loaded " << resident.models.names() << " (" << method.method << "), "
            << a.server.max_waiting << " requests may wait, " << a.server.time_limit_seconds << " s per request\n";
  a.server.log_requests = !a.quiet;
  serve::serve(resident, a.server);
  return 0;
}

}  // namespace

Run add_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  app.add_option("-m,--model", a->models, "diffusers folder or single file (.safetensors or .ckpt/.pt/.pth) (repeatable)")
      ->required();
  app.add_option("--config", a->configs, "config for single files: LDM yaml and/or JSON (repeatable)");
  app.add_option("--lora", a->loras, "kohya LoRA/LoCon FILE[:weight] baked into every -m model at load (repeatable)");
  add_method_options(app, a->method);
  auto& s = a->server;
  app.add_option("--host", s.host, "address to listen on (0.0.0.0: every interface)")->capture_default_str();
  app.add_option("--port", s.port, "TCP port (0: any free one, printed)")->capture_default_str();
  app.add_option("--api-key", s.api_key, "require this key: 'Authorization: Bearer KEY', 'X-API-Key: KEY' or HTTP "
                 "Basic 'user:KEY' (default: $AFA_API_KEY, else none)");
  app.add_option("--queue", s.max_waiting, "txt2img requests that may wait behind the running one (more: 503)")
      ->capture_default_str();
  app.add_option("--timeout", s.time_limit_seconds, "seconds per txt2img request, queue wait included (then 504)")
      ->capture_default_str();
  app.add_option("--max-body", s.max_body_bytes, "largest request body in bytes (more: 413)")->capture_default_str();
  app.add_option("--threads", a->threads, "CPU threads (default: all cores)");
  app.add_flag("-q,--quiet", a->quiet, "no loading progress, no request log");
  app.add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  app.add_option("--dtype", a->dtype, "f32, f16 or bf16")->capture_default_str();
  return [a] { return run_serve(*a); };
}

}  // namespace afa::app
