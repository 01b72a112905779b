// End-to-end: `afa serve` on the tiny golden models, driven over HTTP (cpp-httplib's client) as
// AUTOMATIC1111's clients drive its API.
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "afa/io/base64.h"
#include "afa/io/image.h"
#include "golden.h"
#include "serve_process.h"

namespace afa::test {
namespace {

using nlohmann::json;

std::string tiny_models(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += "-m " + quote(golden("pipelines/" + n + ".safetensors")) + " ";
  return s + "--config " + quote(golden("pipelines/ldm_config.yaml")) + " --config " +
         quote(golden("pipelines/text_encoder_config.json")) + " ";
}
std::string aggregators() { return "--aggregator " + quote(golden("afa/aggregators_perturbed")) + " "; }

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

httplib::Result post(const ServeProcess& s, const std::string& path, const std::string& body,
                     const httplib::Headers& headers = {}) {
  return s.client().Post(path.c_str(), headers, body, "application/json");
}
httplib::Result txt2img(const ServeProcess& s, const json& body) { return post(s, "/sdapi/v1/txt2img", body.dump()); }

TEST(Serve, Txt2ImgPngsEqualAfaGenerateByteForByte) {
  ServeProcess server(tiny_models({"A", "B", "C"}) + aggregators(), "roundtrip");
  ASSERT_TRUE(server.running()) << server.log();
  // Batch k of n_iter draws with seed + k·batch_size: the second batch is `afa generate --seed 9 -b 2`.
  json req = {{"prompt", "a red cube on a blue sphere"}, {"negative_prompt", "blurry"}, {"steps", 3},
              {"cfg_scale", 7.5}, {"sampler_name", "DDIM"}, {"seed", 7}, {"width", 64}, {"height", 64},
              {"batch_size", 2}, {"n_iter", 2}, {"enable_hr", false}, {"override_settings", {{"CLIP_stop_at_last_layers", 1}}},
              {"an_unknown_field", [] { return json::array({1, 2}); }()}};
  auto r = txt2img(server, req);
  ASSERT_TRUE(r) << server.log();
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  ASSERT_EQ(body["images"].size(), 4u);
  const json info = json::parse(body["info"].get<std::string>());
  EXPECT_EQ(info["all_seeds"], json::array({7, 7, 9, 9}));
  EXPECT_EQ(info["seed"], 7);
  EXPECT_EQ(info["sampler_name"], "DDIM");
  EXPECT_EQ(info["afa_method"], "afa");
  EXPECT_EQ(info["afa_interrupted"], false);
  EXPECT_EQ(info["afa_warnings"], json::array());
  EXPECT_EQ(body["parameters"]["seed"], 7);
  EXPECT_EQ(body["parameters"]["n_iter"], 2);

  auto dir = temp_dir("serve_roundtrip");
  const auto png = dir / "g.png";
  auto g = run_afa("generate " + tiny_models({"A", "B", "C"}) + aggregators() +
                   "-p 'a red cube on a blue sphere' -n blurry --steps 3 --cfg-scale 7.5 --sampler ddim --seed 9"
                   " -W 64 -H 64 -b 2 --threads 1 -q -o " + quote(png.string()));
  ASSERT_EQ(g.code, 0) << g.out;
  const std::string first = read_file(png), second = read_file(dir / "g_1.png");
  EXPECT_TRUE(io::base64_decode(body["images"][2].get<std::string>()) == first) << "batch 2, image 1 differs";
  EXPECT_TRUE(io::base64_decode(body["images"][3].get<std::string>()) == second) << "batch 2, image 2 differs";
  EXPECT_FALSE(io::base64_decode(body["images"][0].get<std::string>()) == first);  // another seed
  EXPECT_EQ(info["infotexts"][2], io::read_png_text(png.string()).at("parameters"));

  // Another method per request: afa_method noise-avg is `afa generate --method noise-avg`.
  req = {{"prompt", "a house"}, {"steps", 2}, {"sampler_name", "Euler a"}, {"seed", 3}, {"width", 64},
         {"height", 64}, {"afa_method", "noise-avg"}, {"send_images", true}};
  r = txt2img(server, req);
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
  const json avg = json::parse(r->body);
  g = run_afa("generate " + tiny_models({"A", "B", "C"}) + "--method noise-avg -p 'a house' --steps 2 --sampler euler_a"
              " --seed 3 -W 64 -H 64 --threads 1 -q -o " + quote(png.string()));
  ASSERT_EQ(g.code, 0) << g.out;
  ASSERT_EQ(avg["images"].size(), 1u);
  EXPECT_TRUE(io::base64_decode(avg["images"][0].get<std::string>()) == read_file(png)) << "noise-avg differs";
  std::filesystem::remove_all(dir);
}

TEST(Serve, EndpointsAnswerInA1111Shapes) {
  ServeProcess server(tiny_models({"A", "B"}) + "--method block-avg", "shapes");
  ASSERT_TRUE(server.running()) << server.log();
  auto cli = server.client();
  auto models = body_json(cli.Get("/sdapi/v1/sd-models"));
  ASSERT_TRUE(models.is_array() && models.size() == 1) << models;
  EXPECT_EQ(models[0]["title"], "A + B");
  EXPECT_EQ(models[0]["model_name"], "A + B");
  EXPECT_EQ(models[0]["afa_method"], "block-avg");
  EXPECT_EQ(models[0]["afa_models"].size(), 2u);

  auto samplers = body_json(cli.Get("/sdapi/v1/samplers"));
  ASSERT_TRUE(samplers.is_array()) << samplers;
  std::set<std::string> names;
  for (const auto& s : samplers) {
    names.insert(s["name"].get<std::string>());
    EXPECT_TRUE(s["aliases"].is_array() && s["options"].is_object()) << s;
  }
  for (const char* n : {"DDIM", "PLMS", "DPM++ 2M", "Euler", "Euler a", "LMS"}) EXPECT_TRUE(names.count(n)) << n;

  auto progress = body_json(cli.Get("/sdapi/v1/progress"));
  EXPECT_EQ(progress["progress"], 0.0);
  EXPECT_EQ(progress["eta_relative"], 0.0);
  EXPECT_EQ(progress["state"]["job"], "");
  EXPECT_EQ(progress["state"]["sampling_step"], 0);
  EXPECT_EQ(progress["state"]["sampling_steps"], 0);
  EXPECT_EQ(progress["state"]["interrupted"], false);

  auto interrupt = cli.Post("/sdapi/v1/interrupt", "", "application/json");  // idle: nothing to stop
  ASSERT_TRUE(interrupt);
  EXPECT_EQ(interrupt->status, 200);
  EXPECT_EQ(body_json(interrupt), json::object());

  auto health = body_json(cli.Get("/health"));
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["busy"], false);
  EXPECT_EQ(body_json(cli.Get("/sdapi/v1/options"))["sd_model_checkpoint"], "A + B");
  auto set_same = post(server, "/sdapi/v1/options", R"({"sd_model_checkpoint": "A + B"})");
  ASSERT_TRUE(set_same);
  EXPECT_EQ(set_same->status, 200);
  auto set_other = post(server, "/sdapi/v1/options", R"({"sd_model_checkpoint": "v1-5-pruned.safetensors"})");
  ASSERT_TRUE(set_other);
  EXPECT_EQ(set_other->status, 422);

  // A second server on the same port is refused (no port sharing), and an impossible port before loading.
  auto again = run_afa("serve " + tiny_models({"A"}) + "-q --port " + std::to_string(server.port()));
  EXPECT_EQ(again.code, 2) << again.out;
  EXPECT_NE(again.out.find("cannot listen on 127.0.0.1:" + std::to_string(server.port())), std::string::npos) << again.out;
  auto bad_port = run_afa("serve -m /nonexistent-model --port 70000");
  EXPECT_EQ(bad_port.code, 2);
  EXPECT_NE(bad_port.out.find("--port"), std::string::npos) << bad_port.out;

  auto missing = cli.Get("/sdapi/v1/nothing-here");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(body_json(missing)["error"], "not found");
}

TEST(Serve, BadRequestsAre422NamingTheFieldAndBigBodies413) {
  ServeProcess server(tiny_models({"A", "B"}) + "--method noise-avg --max-body 4096", "bad");
  ASSERT_TRUE(server.running()) << server.log();
  struct Case {
    std::string body, field;
  } cases[] = {
      {R"({"prompt": "x", "steps": )", "body"},
      {R"([1, 2])", "body"},
      {R"({"steps": "twenty"})", "steps"},
      {R"({"steps": 0})", "steps"},
      {R"({"steps": 2.5})", "steps"},
      {R"({"width": 65, "height": 64})", "width"},
      {R"({"height": -8})", "height"},
      {R"({"cfg_scale": "7"})", "cfg_scale"},
      {R"({"sampler_name": "DPM++ 2M Karras"})", "sampler_name"},
      {R"({"sampler_index": "nope"})", "sampler_index"},
      {R"({"scheduler": "Karras"})", "scheduler"},
      {R"({"seed": -2})", "seed"},
      {R"({"seed": "42"})", "seed"},
      {R"({"batch_size": 0})", "batch_size"},
      {R"({"n_iter": 1000})", "n_iter"},
      {R"({"eta": 0.5, "sampler_name": "Euler"})", "eta"},
      {R"({"prompt": 5})", "prompt"},
      {R"({"enable_hr": true})", "enable_hr"},
      {R"({"afa_method": "nope"})", "afa_method"},
      {R"({"afa_method": "afa"})", "afa_method"},
      {R"({"afa_mf_general": 1})", "afa_mf_general"},
      {R"({"afa_method": "magicfusion", "afa_mf_general": 2})", "afa_mf_general"},
      {R"({"afa_method": "magicfusion", "afa_mf_temperature": [1, 2, 3]})", "afa_mf_temperature"},
      {R"({"afa_method": "magicfusion", "cfg_scale": 1})", "cfg_scale"},
  };
  for (const auto& c : cases) {
    auto r = post(server, "/sdapi/v1/txt2img", c.body);
    ASSERT_TRUE(r) << c.body;
    EXPECT_EQ(r->status, 422) << c.body << " -> " << r->body;
    auto j = body_json(r);
    EXPECT_EQ(j["field"], c.field) << c.body << " -> " << r->body;
    EXPECT_EQ(j["detail"][0]["loc"], json::array({"body", c.field})) << r->body;
  }
  auto big = post(server, "/sdapi/v1/txt2img", json{{"prompt", std::string(8000, 'x')}}.dump());
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413) << big->body;
  EXPECT_EQ(body_json(big)["error"], "payload too large") << big->body;
  // The server still answers after all that; a prompt over CLIP's 75 tokens is a warning in info.
  std::string words;
  for (int i = 0; i < 80; ++i) words += "cat ";
  auto ok = txt2img(server, {{"prompt", words}, {"steps", 1}, {"width", 64}, {"height", 64}, {"seed", 1}});
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  const json warnings = json::parse(body_json(ok)["info"].get<std::string>())["afa_warnings"];
  ASSERT_EQ(warnings.size(), 1u) << warnings;
  EXPECT_NE(warnings[0].get<std::string>().find("the prompt has 80 tokens"), std::string::npos) << warnings;
}

TEST(Serve, ApiKeyIsRequiredWhereGiven) {
  ServeProcess server(tiny_models({"A"}) + "--api-key s3cret -q", "key");
  ASSERT_TRUE(server.running()) << server.log();
  auto cli = server.client();
  auto none = cli.Get("/sdapi/v1/samplers");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(body_json(none)["error"], "unauthorized");
  EXPECT_EQ(cli.Get("/sdapi/v1/samplers", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(cli.Get("/sdapi/v1/samplers", {{"X-API-Key", "s3cre"}})->status, 401);
  EXPECT_EQ(post(server, "/sdapi/v1/txt2img", "{}", {{"X-API-Key", "nope"}})->status, 401);
  EXPECT_EQ(cli.Get("/sdapi/v1/samplers", {{"Authorization", "Bearer s3cret"}})->status, 200);
  EXPECT_EQ(cli.Get("/sdapi/v1/samplers", {{"X-API-Key", "s3cret"}})->status, 200);
  EXPECT_EQ(cli.Get("/sdapi/v1/samplers", {{"Authorization", "Basic " + io::base64_encode("user:s3cret")}})->status, 200);
  EXPECT_EQ(cli.Get("/sdapi/v1/samplers", {{"Authorization", "Basic " + io::base64_encode("user:other")}})->status, 401);
  EXPECT_EQ(cli.Get("/health")->status, 200);  // liveness probes need no key
}

// One generation at a time: a long job runs, two wait, the next is refused with 503 + Retry-After; an
// interrupt ends the long one early and the waiting ones run in the order they came.
TEST(Serve, QueueOrderFullQueueAndInterrupt) {
  ServeProcess server(tiny_models({"A"}) + "--queue 2", "queue");
  ASSERT_TRUE(server.running()) << server.log();
  auto cli = server.client();
  auto progress = [&] { return body_json(cli.Get("/sdapi/v1/progress")); };
  auto health = [&] { return body_json(cli.Get("/health")); };

  // Long enough never to finish before the interrupt (100 batches of 1000 steps).
  std::optional<httplib::Result> long_r, b_r, c_r;  // set by the client threads
  std::thread a([&] {
    long_r = txt2img(server, {{"prompt", "a"}, {"steps", 1000}, {"n_iter", 100}, {"width", 64}, {"height", 64},
                              {"seed", 1}, {"sampler_name", "Euler"}});
  });
  ASSERT_TRUE(wait_for([&] { return progress()["state"]["sampling_step"].get<int64_t>() >= 1; }));
  auto p = progress();
  EXPECT_EQ(p["state"]["job"], "txt2img");
  EXPECT_EQ(p["state"]["sampling_steps"], 1000);
  EXPECT_EQ(p["state"]["job_count"], 100);
  EXPECT_GT(p["progress"].get<double>(), 0.0);
  EXPECT_GT(p["eta_relative"].get<double>(), 0.0);

  const json small = {{"prompt", "b"}, {"steps", 2}, {"width", 64}, {"height", 64}, {"seed", 2}};
  std::thread b([&] { b_r = txt2img(server, small); });
  ASSERT_TRUE(wait_for([&] { return health()["waiting"] == 1; }));
  std::thread c([&] { c_r = txt2img(server, small); });
  ASSERT_TRUE(wait_for([&] { return health()["waiting"] == 2; }));

  auto full = txt2img(server, small);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 503) << full->body;
  EXPECT_EQ(body_json(full)["error"], "busy");
  EXPECT_TRUE(full->has_header("Retry-After"));
  EXPECT_GE(std::stoi(full->get_header_value("Retry-After")), 1);

  auto stop = cli.Post("/sdapi/v1/interrupt", "", "application/json");
  ASSERT_TRUE(stop && stop->status == 200);
  a.join();
  b.join();
  c.join();
  ASSERT_TRUE(long_r && b_r && c_r && *long_r && *b_r && *c_r);
  ASSERT_EQ((*long_r)->status, 200) << (*long_r)->body;
  const json la = json::parse((*long_r)->body), li = json::parse(la["info"].get<std::string>());
  EXPECT_EQ(li["afa_interrupted"], true);
  EXPECT_EQ(la["images"].size(), 1u);  // the interrupted batch's image; the 99 after it never ran
  ASSERT_EQ(li["afa_steps_done"].size(), 1u);
  EXPECT_LT(li["afa_steps_done"][0].get<int64_t>(), 1000);
  EXPECT_GE(li["afa_steps_done"][0].get<int64_t>(), 1);
  ASSERT_EQ((*b_r)->status, 200) << (*b_r)->body;
  ASSERT_EQ((*c_r)->status, 200) << (*c_r)->body;
  const json bi = json::parse(json::parse((*b_r)->body)["info"].get<std::string>());
  const json ci = json::parse(json::parse((*c_r)->body)["info"].get<std::string>());
  EXPECT_EQ(bi["afa_interrupted"], false);  // an interrupt stops only the job running then
  EXPECT_EQ(bi["afa_steps_done"], json::array({2}));
  // First in, first out: the order of arrival is the order of running.
  EXPECT_EQ(li["afa_run"], 1);
  EXPECT_EQ(bi["afa_job"], bi["afa_run"]);
  EXPECT_EQ(ci["afa_job"], ci["afa_run"]);
  EXPECT_LT(bi["afa_run"].get<int>(), ci["afa_run"].get<int>());
  // The same settings and seed make the same image, whichever job in the queue made it.
  EXPECT_EQ(json::parse((*b_r)->body)["images"], json::parse((*c_r)->body)["images"]);
}

// The time limit cancels a job at its next step (504); SIGTERM cancels the running job (503) and the
// server exits cleanly.
TEST(Serve, TimeLimitAndCleanShutdown) {
  ServeProcess server(tiny_models({"A"}) + "--timeout 1", "shutdown");
  ASSERT_TRUE(server.running()) << server.log();
  const json endless = {{"prompt", "a"}, {"steps", 1000}, {"n_iter", 100}, {"width", 64}, {"height", 64}, {"seed", 1}};
  auto late = txt2img(server, endless);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 504) << late->body;
  EXPECT_EQ(body_json(late)["error"], "timeout");

  ServeProcess second(tiny_models({"A"}), "shutdown2");
  ASSERT_TRUE(second.running()) << second.log();
  auto cli = second.client();
  std::optional<httplib::Result> r;
  std::thread a([&] { r = txt2img(second, endless); });
  ASSERT_TRUE(wait_for([&] { return body_json(cli.Get("/sdapi/v1/progress"))["state"]["sampling_step"] >= 1; }));
  EXPECT_EQ(second.stop(SIGTERM), 0) << second.log();
  a.join();
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->status, 503) << (*r)->body;
  EXPECT_EQ(body_json(*r)["error"], "shutting down");
  EXPECT_NE(second.log().find("stopped"), std::string::npos) << second.log();
}

}  // namespace
}  // namespace afa::test
