#include "afa/serve/txt2img_request.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "afa/schedulers/samplers.h"

namespace afa::serve {

namespace {

using nlohmann::json;

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "a number";
  }
}

// A1111's (pydantic's) reading of one body: absent and null mean the default.
class Fields {
 public:
  explicit Fields(const json& j) : j_(j) {}

  const json* get(const std::string& key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  bool has(const std::string& key) const { return get(key) != nullptr; }

  std::string string(const std::string& key, const std::string& def) const {
    const json* v = get(key);
    if (!v) return def;
    if (!v->is_string()) throw RequestError(key, std::string("must be a string, got ") + type_name(*v));
    return v->get<std::string>();
  }

  bool boolean(const std::string& key, bool def) const {
    const json* v = get(key);
    if (!v) return def;
    if (!v->is_boolean()) throw RequestError(key, std::string("must be true or false, got ") + type_name(*v));
    return v->get<bool>();
  }

  // An integer (an integral float such as 20.0 too) in [lo, hi].
  int64_t integer(const std::string& key, int64_t def, int64_t lo, int64_t hi) const {
    const json* v = get(key);
    if (!v) return def;
    const int64_t x = as_integer(key, *v);
    if (x < lo || x > hi) throw RequestError(key, range_message(lo, hi, v->dump()));
    return x;
  }

  double number(const std::string& key, double def, double lo, double hi) const {
    const json* v = get(key);
    if (!v) return def;
    if (!v->is_number()) throw RequestError(key, std::string("must be a number, got ") + type_name(*v));
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi) {
      std::ostringstream s;
      s << "must be a number in [" << lo << ", " << hi << "] (got " << v->dump() << ")";
      throw RequestError(key, s.str());
    }
    return x;
  }

  static int64_t as_integer(const std::string& key, const json& v) {
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
        throw RequestError(key, "is too large (got " + v.dump() + ")");
      return v.get<int64_t>();
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0) return int64_t(d);
      throw RequestError(key, "must be an integer (got " + v.dump() + ")");
    }
    throw RequestError(key, std::string("must be an integer, got ") + type_name(v));
  }

  static std::string range_message(int64_t lo, int64_t hi, const std::string& got) {
    std::ostringstream s;
    s << "must be an integer in " << lo << ".." << hi << " (got " << got << ")";
    return s.str();
  }

 private:
  const json& j_;
};

std::string supported_samplers() {
  std::string out;
  for (const auto& s : schedulers::sampler_table()) out += (out.empty() ? "'" : ", '") + s.a1111_label + "'";
  return out;
}

// seed: -1 (random) or 0 .. 2^64 - 1, as afa generate's --seed. `requested` keeps it as given.
uint64_t read_seed(const Fields& f, json& requested) {
  const json* v = f.get("seed");
  requested = -1;
  if (!v) return pipeline::random_seed();
  if (v->is_number_unsigned()) {
    requested = *v;
    return v->get<uint64_t>();
  }
  const int64_t s = Fields::as_integer("seed", *v);
  if (s == -1) return pipeline::random_seed();
  if (s < -1) throw RequestError("seed", "must be -1 (random) or an integer in 0..18446744073709551615 (got " +
                                            v->dump() + ")");
  requested = s;
  return uint64_t(s);
}

void read_method(const Fields& f, const ServeContext& ctx, Txt2ImgRequest& r) {
  ensemble::MethodOptions m = ctx.method;
  if (f.has("afa_method")) {
    const std::string name = f.string("afa_method", "");
    const auto& names = ensemble::method_names();
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw RequestError("afa_method", "must be one of afa, noise-avg, block-avg, magicfusion, single (got '" + name + "')");
    if (name == "afa" && !ctx.has_aggregators)
      throw RequestError("afa_method", "afa needs aggregators: start the server with --aggregator");
    if (name == "single" && ctx.num_models != 1)
      throw RequestError("afa_method", "single needs a server with one model; this one has " +
                                           std::to_string(ctx.num_models));
    if (name != "single" && ctx.num_models < 2)
      throw RequestError("afa_method", name + " needs at least two models; this server has one");
    if (name != m.method) {
      m.method = name;
      if (name != "afa") {
        m.aggregator.clear();
        m.aggregators.reset();
      }
      if (name == "magicfusion") m.magicfusion = {};
    }
  }
  const int64_t n = int64_t(ctx.num_models);
  auto& mf = m.magicfusion;
  for (const char* key : {"afa_mf_general", "afa_mf_temperature", "afa_mf_threshold", "afa_mf_fuse", "afa_mf_outside"})
    if (f.has(key) && m.method != "magicfusion")
      throw RequestError(key, "applies to the magicfusion method only (this request's method is " + m.method + ")");
  mf.general = f.integer("afa_mf_general", mf.general, 0, n - 1);
  mf.outside = f.integer("afa_mf_outside", mf.outside, 0, n - 1);
  mf.threshold = f.number("afa_mf_threshold", mf.threshold, 0, 1000);
  if (f.has("afa_mf_fuse")) {
    const std::string fuse = f.string("afa_mf_fuse", "");
    if (fuse != "above" && fuse != "below") throw RequestError("afa_mf_fuse", "must be above or below (got '" + fuse + "')");
    mf.fuse_above = fuse == "above";
  }
  if (const json* t = f.get("afa_mf_temperature")) {
    std::vector<double> temps;
    const json list = t->is_array() ? *t : json::array({*t});
    for (const auto& v : list) {
      if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
        throw RequestError("afa_mf_temperature", "must be positive numbers, one per model (got " + t->dump() + ")");
      temps.push_back(v.get<double>());
    }
    if (temps.size() == 1) temps.assign(size_t(n), temps[0]);
    if (int64_t(temps.size()) != n)
      throw RequestError("afa_mf_temperature", "needs one temperature per model (" + std::to_string(n) + "), got " +
                                                   std::to_string(temps.size()));
    mf.temperatures = temps;
  }
  if (m.method == "magicfusion" && !(r.options.cfg_scale > 1.0))
    throw RequestError("cfg_scale", "the magicfusion method blends guided noises: it needs cfg_scale > 1");
  r.method = std::move(m);
}

}  // namespace

Txt2ImgRequest parse_txt2img(const std::string& body, const ServeContext& context) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw RequestError("body", std::string("malformed JSON: ") + e.what());
  }
  return parse_txt2img(j, context);
}

Txt2ImgRequest parse_txt2img(const nlohmann::json& body, const ServeContext& ctx) {
  if (!body.is_object()) throw RequestError("body", std::string("must be a JSON object, got ") + type_name(body));
  const Fields f(body);
  Txt2ImgRequest r;
  auto& o = r.options;
  o.progress = false;
  o.prompt = f.string("prompt", "");
  o.negative_prompt = f.string("negative_prompt", "");
  o.steps = f.integer("steps", kDefaultSteps, 1, kMaxSteps);
  o.cfg_scale = f.number("cfg_scale", kDefaultCfgScale, 0, 1000);
  // sampler_index is A1111's older name of the field.
  const std::string sampler_key = f.has("sampler_name") || !f.has("sampler_index") ? "sampler_name" : "sampler_index";
  const std::string sampler = f.string(sampler_key, kDefaultSampler);
  const auto* info = schedulers::find_sampler(sampler);
  if (!info) throw RequestError(sampler_key, "unknown sampler '" + sampler + "' (supported: " + supported_samplers() + ")");
  o.sampler = info->name;
  const std::string schedule = f.string("scheduler", "Automatic");
  if (schedule != "Automatic" && schedule != "automatic")
    throw RequestError("scheduler", "only 'Automatic' (each sampler's own noise schedule, as diffusers') is supported "
                                    "(got '" + schedule + "')");
  o.eta = f.number("eta", 0.0, 0, 1);
  if (o.eta > 0 && !info->takes_eta)
    throw RequestError("eta", "applies to the DDIM sampler only (sampler is '" + info->a1111_label + "')");
  const int64_t max_side = 16384 / ctx.vae_factor * ctx.vae_factor;
  for (const char* key : {"width", "height"}) {
    const int64_t v = f.integer(key, ctx.native_size, ctx.vae_factor, max_side);
    if (v % ctx.vae_factor != 0)
      throw RequestError(key, "must be a multiple of " + std::to_string(ctx.vae_factor) + " (got " +
                                  std::to_string(v) + ")");
    (std::string(key) == "width" ? o.width : o.height) = v;
  }
  o.batch = f.integer("batch_size", 1, 1, kMaxBatchSize);
  r.n_iter = f.integer("n_iter", 1, 1, kMaxIterations);
  o.seed = read_seed(f, r.requested_seed);
  r.send_images = f.boolean("send_images", true);
  // A1111 features afa does not have: refused rather than silently ignored.
  for (const char* key : {"enable_hr", "restore_faces", "tiling"})
    if (f.boolean(key, false)) throw RequestError(key, "is not supported by afa serve (send false or leave it out)");
  read_method(f, ctx, r);
  r.parameters = {{"prompt", o.prompt},       {"negative_prompt", o.negative_prompt},
                  {"steps", o.steps},         {"cfg_scale", o.cfg_scale},
                  {"sampler_name", info->a1111_label}, {"scheduler", "Automatic"},
                  {"seed", r.requested_seed}, {"width", o.width},
                  {"height", o.height},       {"batch_size", o.batch},
                  {"n_iter", r.n_iter},       {"eta", o.eta},
                  {"send_images", r.send_images}, {"afa_method", r.method.method}};
  return r;
}

}  // namespace afa::serve
