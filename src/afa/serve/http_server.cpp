#include "afa/serve/http_server.h"

#include <httplib.h>

#include <sys/socket.h>

#include <atomic>
#include <cmath>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include "afa/io/base64.h"
#include "afa/serve/a1111_api.h"
#include "afa/util/error.h"
#include "afa/util/interrupt.h"

namespace afa::serve {

namespace {

using nlohmann::json;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& kind, const std::string& detail) {
  send_json(res, status, {{"error", kind}, {"detail", detail}});
}

// Compares without an early exit, so that the time taken does not tell how much of a key was right.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= uint8_t(a[i]) ^ uint8_t(i < b.size() ? b[i] : 0);
  return diff == 0;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

bool key_matches(const std::string& key, const std::string& authorization, const std::string& x_api_key) {
  if (!x_api_key.empty() && same_secret(x_api_key, key)) return true;
  if (starts_with(authorization, "Bearer ")) return same_secret(authorization.substr(7), key);
  if (starts_with(authorization, "Basic ")) {
    std::string credentials;
    try {
      credentials = io::base64_decode(authorization.substr(6));
    } catch (const afa::Error&) {
      return false;
    }
    const auto colon = credentials.find(':');
    const bool password = colon != std::string::npos && same_secret(credentials.substr(colon + 1), key);
    return same_secret(credentials, key) || password;
  }
  return false;
}

void check(const ServerOptions& opt) {
  AFA_CHECK(opt.port >= 0 && opt.port <= 65535, "--port must be in 0..65535 (got ", opt.port, ")");
  AFA_CHECK(std::isfinite(opt.time_limit_seconds) && opt.time_limit_seconds > 0,
            "--timeout must be a positive number of seconds (got ", opt.time_limit_seconds, ")");
  AFA_CHECK(opt.max_waiting >= 1 && opt.max_waiting <= 1000, "--queue must be in 1..1000 (got ", opt.max_waiting, ")");
  AFA_CHECK(opt.max_body_bytes >= 1024, "--max-body must be at least 1024 bytes (got ", opt.max_body_bytes, ")");
  AFA_CHECK(!opt.host.empty(), "--host is empty");
}

void serve(ResidentModels& resident, const ServerOptions& opt) {
  check(opt);
  const ServeContext context = resident.context();
  JobQueue queue(opt.max_waiting, opt.time_limit_seconds);
  std::mutex log_mutex;

  httplib::Server svr;
  // Each waiting txt2img request holds a thread; a few more keep progress, interrupt and health answering.
  const size_t threads = opt.max_waiting + 8;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(opt.max_body_bytes);
  svr.set_read_timeout(10, 0);
  svr.set_write_timeout(60, 0);
  svr.set_keep_alive_timeout(2);
  // httplib's default adds SO_REUSEPORT, with which a second server on the same port would start and share
  // the requests; SO_REUSEADDR alone lets a restart bind while old connections linger, and a second
  // server fail.
  svr.set_socket_options([](auto sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  if (opt.log_requests)
    svr.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
      std::lock_guard<std::mutex> lock(log_mutex);
      std::cerr << req.method << " " << req.path << " " << res.status << "\n";
    });
  if (!opt.api_key.empty())
    svr.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
      if (req.path == "/health" ||
          key_matches(opt.api_key, req.get_header_value("Authorization"), req.get_header_value("X-API-Key")))
        return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("WWW-Authenticate", "Bearer realm=\"afa\"");
      send_error(res, 401, "unauthorized",
                 "this server needs its API key: 'Authorization: Bearer KEY' or 'X-API-Key: KEY' (or HTTP Basic)");
      return httplib::Server::HandlerResponse::Handled;
    });
  // httplib's own refusals (no such endpoint, a body over the limit, a malformed request) as JSON too.
  svr.set_error_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413)
      send_error(res, 413, "payload too large",
                 "the body is larger than this server's limit of " + std::to_string(opt.max_body_bytes) + " bytes");
    else if (res.status == 404)
      send_error(res, 404, "not found", "no endpoint " + req.method + " " + req.path);
    else
      send_error(res, res.status, "bad request", "the server could not read this HTTP request");
  });
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, "internal error", what);
  });

  svr.Post("/sdapi/v1/txt2img", [&](const httplib::Request& req, httplib::Response& res) {
    Txt2ImgRequest request;
    try {
      request = parse_txt2img(req.body, context);
    } catch (const RequestError& e) {
      const json detail = {{"loc", {"body", e.field()}}, {"msg", e.message()}, {"type", "value_error"}};
      send_json(res, 422, {{"error", "invalid request"}, {"field", e.field()}, {"detail", json::array({detail})}});
      return;
    }
    auto ticket = queue.submit([&resident, request](const JobControl& c) { return run_txt2img(resident, request, c); });
    if (!ticket) {
      if (queue.shutting_down()) return send_error(res, 503, "shutting down", "the server is shutting down");
      const int retry = queue.retry_after_seconds();
      res.set_header("Retry-After", std::to_string(retry));
      return send_error(res, 503, "busy",
                        "the queue is full (" + std::to_string(queue.max_waiting()) + " requests wait behind the "
                        "running one); retry after " + std::to_string(retry) + " s");
    }
    JobResult result = ticket->result.get();
    if (result.status == 503) res.set_header("Retry-After", std::to_string(queue.retry_after_seconds()));
    send_json(res, result.status, result.body);
  });
  svr.Get("/sdapi/v1/sd-models", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, sd_models_json(resident));
  });
  svr.Get("/sdapi/v1/samplers", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, samplers_json());
  });
  svr.Get("/sdapi/v1/schedulers", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, schedulers_json());
  });
  svr.Get("/sdapi/v1/progress", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, progress_json(queue.progress()));
  });
  svr.Post("/sdapi/v1/interrupt", [&](const httplib::Request&, httplib::Response& res) {
    queue.interrupt();
    send_json(res, 200, json::object());
  });
  svr.Get("/sdapi/v1/options", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, options_json(resident));
  });
  // Clients set the model through options: the ensemble's own title is accepted, any other refused.
  svr.Post("/sdapi/v1/options", [&](const httplib::Request& req, httplib::Response& res) {
    const json body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) return send_error(res, 422, "invalid request", "body: must be a JSON object");
    const auto it = body.find("sd_model_checkpoint");
    if (it != body.end() && !it->is_null() && *it != resident.models.names())
      return send_json(res, 422, {{"error", "invalid request"},
                                  {"field", "sd_model_checkpoint"},
                                  {"detail", "this server serves only '" + resident.models.names() + "'"}});
    send_json(res, 200, nullptr);
  });
  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    const Progress p = queue.progress();
    send_json(res, 200, {{"status", queue.shutting_down() ? "shutting down" : "ok"},
                         {"busy", p.busy},
                         {"waiting", p.waiting},
                         {"max_waiting", opt.max_waiting}});
  });

  int port = opt.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opt.host);
    AFA_CHECK(port > 0, "cannot listen on ", opt.host, " (--host): no free port");
  } else {
    AFA_CHECK(svr.bind_to_port(opt.host, port), "cannot listen on ", opt.host, ":", port,
              " (--host/--port): the address is in use or not this machine's");
  }
  // SIGINT/SIGTERM only set a flag while this guard lives; the loop below notices it.
  InterruptGuard stop_signal;
  std::atomic<bool> listener_ended{false};
  std::thread listener([&] {
    svr.listen_after_bind();
    listener_ended = true;
  });
  std::cout << "listening on http://" << opt.host << ":" << port << std::endl;
  while (!stop_signal.requested() && !listener_ended)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    std::cerr << "stopping: the running job is cancelled at its next step, queued requests get 503\n";
  }
  queue.shutdown();
  svr.stop();
  listener.join();
  std::cerr << "stopped\n";
}

}  // namespace afa::serve
