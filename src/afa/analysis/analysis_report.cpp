#include "afa/analysis/analysis_report.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "afa/io/base64.h"
#include "afa/io/image.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::analysis {

namespace {
constexpr int64_t kFigure = 256;  // overlay size in pixels

std::string hex(const std::array<uint8_t, 3>& c) {
  char b[8];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", c[0], c[1], c[2]);
  return b;
}

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}

std::string legend(const RegionWins& r, double x, double y) {
  std::ostringstream o;
  const size_t c = r.contenders.size();
  for (size_t k = 0; k <= c; ++k) {
    o << "<rect x=\"" << x << "\" y=\"" << y + 18 * double(k) << "\" width=\"12\" height=\"12\" fill=\""
      << hex(contender_colour(k, c)) << "\"/><text x=\"" << x + 18 << "\" y=\"" << y + 18 * double(k) + 10 << "\">"
      << escape(k < c ? r.contenders[k] : "tie") << "</text>\n";
  }
  return o.str();
}

std::string svg_open(double w, double h) {
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\" viewBox=\"0 0 " << w
    << " " << h << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  return o.str();
}
}  // namespace

std::array<uint8_t, 3> contender_colour(size_t k, size_t contenders) {
  static const std::array<std::array<uint8_t, 3>, 8> p = {{{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                                           {214, 39, 40}, {148, 103, 189}, {140, 86, 75},
                                                           {227, 119, 194}, {23, 190, 207}}};
  if (k >= contenders) return {160, 160, 160};
  return p[k % p.size()];
}

nlohmann::json analysis_json(const RegionWins& r, const nlohmann::json& inputs) {
  const size_t c = r.contenders.size();
  nlohmann::json j = inputs;
  j["contenders"] = r.contenders;
  j["timesteps"] = r.timesteps;
  j["samples"] = r.samples;
  j["patch_grid"] = {{"patch", r.patch}, {"rows", r.rows}, {"cols", r.cols}};
  j["per_timestep"] = nlohmann::json::array();
  for (size_t ti = 0; ti < r.timesteps.size(); ++ti) {
    nlohmann::json t{{"timestep", r.timesteps[ti]}};
    auto names = r.contenders;
    names.push_back("ties");
    // win fractions: patches[row][col] = {"contender": fraction, ..., "ties": fraction}
    nlohmann::json patches = nlohmann::json::array();
    for (int64_t y = 0; y < r.rows; ++y) {
      nlohmann::json row = nlohmann::json::array();
      for (int64_t x = 0; x < r.cols; ++x) {
        nlohmann::json cell;
        for (size_t k = 0; k <= c; ++k) cell[names[k]] = r.wins[int64_t(ti)][y][x][int64_t(k)].item<double>();
        row.push_back(cell);
      }
      patches.push_back(row);
    }
    t["patches"] = patches;
    for (size_t k = 0; k <= c; ++k) t["image_wins"][names[k]] = r.image_wins[int64_t(ti)][int64_t(k)].item<double>();
    for (size_t k = 0; k < c; ++k) {
      auto e = r.errors[int64_t(ti)].select(1, int64_t(k));
      const double n = double(e.size(0));
      const double se = n > 1 ? e.std().item<double>() / std::sqrt(n) : 0.0;
      t["mean_error"][names[k]] = {{"mean", e.mean().item<double>()}, {"se", se}};
      t["patch_win_fraction"][names[k]] = r.wins[int64_t(ti)].select(-1, int64_t(k)).mean().item<double>();
    }
    t["patch_win_fraction"]["ties"] = r.wins[int64_t(ti)].select(-1, int64_t(c)).mean().item<double>();
    j["per_timestep"].push_back(t);
  }
  return j;
}

torch::Tensor winner_overlay(const RegionWins& r, size_t ti, const torch::Tensor& image_hwc) {
  const size_t c = r.contenders.size();
  auto img = image_hwc.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
  img = torch::nn::functional::interpolate(
      img, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{kFigure, kFigure}).mode(torch::kNearest));
  auto best = r.wins[int64_t(ti)].argmax(-1);  // [rows, cols], ties included as a class
  auto colours = torch::empty({r.rows, r.cols, 3}, torch::kFloat32);
  for (int64_t y = 0; y < r.rows; ++y)
    for (int64_t x = 0; x < r.cols; ++x) {
      const auto col = contender_colour(static_cast<size_t>(best[y][x].item<int64_t>()), c);
      for (int ch = 0; ch < 3; ++ch) colours[y][x][ch] = float(col[ch]);
    }
  auto tint = torch::nn::functional::interpolate(
      colours.permute({2, 0, 1}).unsqueeze(0),
      torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{kFigure, kFigure}).mode(torch::kNearest));
  auto out = (0.45 * img + 0.55 * tint).squeeze(0).permute({1, 2, 0});
  // Patch borders, so neighbouring patches with one winner still read as patches.
  const int64_t sy = kFigure / r.rows, sx = kFigure / r.cols;
  for (int64_t y = 1; y < r.rows; ++y) out.select(0, y * sy).fill_(255);
  for (int64_t x = 1; x < r.cols; ++x) out.select(1, x * sx).fill_(255);
  return out.round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

void write_analysis(const RegionWins& r, const nlohmann::json& inputs, const torch::Tensor& image_hwc,
                    const std::vector<std::pair<int64_t, int64_t>>& bars, const std::string& dir) {
  const size_t c = r.contenders.size();
  write_text_atomic((fs::path(dir) / "analysis.json").string(), analysis_json(r, inputs).dump(1) + "\n");
  for (size_t ti = 0; ti < r.timesteps.size(); ++ti) {
    const std::string stem = "winners_t" + std::to_string(r.timesteps[ti]);
    const std::string png = (fs::path(dir) / (stem + ".png")).string();
    io::write_png(png, winner_overlay(r, ti, image_hwc));
    std::ostringstream s;
    s << svg_open(kFigure + 180, kFigure + 30) << "<text x=\"4\" y=\"16\">most frequent winner per patch, t = "
      << r.timesteps[ti] << "</text>\n<image x=\"0\" y=\"24\" width=\"" << kFigure << "\" height=\"" << kFigure
      << "\" href=\"" << io::data_uri(png, "image/png") << "\"/>\n"
      << legend(r, kFigure + 14, 30) << "</svg>\n";
    write_text_atomic((fs::path(dir) / (stem + ".svg")).string(), s.str());
  }
  // Stacked bars: one group per chosen patch, one bar per timestep.
  {
    const double bw = 22, gap = 6, group_gap = 26, h = 200, top = 30;
    const double groups = double(bars.size()), per = double(r.timesteps.size());
    const double width = 60 + groups * (per * (bw + gap) + group_gap) + 140;
    std::ostringstream s;
    s << svg_open(width, top + h + 60) << "<text x=\"4\" y=\"16\">win proportions per patch (bars: timesteps)</text>\n";
    double x = 50;
    for (const auto& [py, px] : bars) {
      AFA_CHECK(py >= 0 && py < r.rows && px >= 0 && px < r.cols, "--bars: patch (", py, ", ", px,
                ") is outside the ", r.rows, "x", r.cols, " patch grid");
      for (size_t ti = 0; ti < r.timesteps.size(); ++ti) {
        double y = top + h;
        for (size_t k = 0; k <= c; ++k) {
          const double f = r.wins[int64_t(ti)][py][px][int64_t(k)].item<double>();
          s << "<rect x=\"" << x << "\" y=\"" << y - f * h << "\" width=\"" << bw << "\" height=\"" << f * h
            << "\" fill=\"" << hex(contender_colour(k, c)) << "\"/>\n";
          y -= f * h;
        }
        s << "<text x=\"" << x + bw / 2 << "\" y=\"" << top + h + 14 << "\" text-anchor=\"middle\" font-size=\"10\">"
          << r.timesteps[ti] << "</text>\n";
        x += bw + gap;
      }
      s << "<text x=\"" << x - per * (bw + gap) / 2 << "\" y=\"" << top + h + 32 << "\" text-anchor=\"middle\">patch ("
        << py << ", " << px << ")</text>\n";
      x += group_gap;
    }
    s << legend(r, x + 10, top) << "</svg>\n";
    write_text_atomic((fs::path(dir) / "patch_bars.svg").string(), s.str());
  }
  // Whole-image win fraction against the timestep.
  {
    const double w = 520, h = 300, l = 50, rt = 150, t = 30, b = 40;
    const size_t n = r.timesteps.size();
    auto X = [&](size_t i) { return l + (n == 1 ? 0.5 : double(i) / double(n - 1)) * (w - l - rt); };
    auto Y = [&](double v) { return t + (1 - v) * (h - t - b); };
    std::ostringstream s;
    s << svg_open(w, h) << "<text x=\"4\" y=\"16\">whole-image win fraction against timestep</text>\n";
    for (int k = 0; k <= 4; ++k)
      s << "<line x1=\"" << l << "\" x2=\"" << w - rt << "\" y1=\"" << Y(k / 4.0) << "\" y2=\"" << Y(k / 4.0)
        << "\" stroke=\"#ddd\"/><text x=\"" << l - 4 << "\" y=\"" << Y(k / 4.0) + 4 << "\" text-anchor=\"end\">"
        << k / 4.0 << "</text>\n";
    for (size_t i = 0; i < n; ++i)
      s << "<text x=\"" << X(i) << "\" y=\"" << h - b + 16 << "\" text-anchor=\"middle\">" << r.timesteps[i] << "</text>\n";
    for (size_t k = 0; k <= c; ++k) {
      s << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << hex(contender_colour(k, c)) << "\" points=\"";
      for (size_t i = 0; i < n; ++i) s << X(i) << "," << Y(r.image_wins[int64_t(i)][int64_t(k)].item<double>()) << " ";
      s << "\"/>\n";
    }
    s << legend(r, w - rt + 12, t) << "</svg>\n";
    write_text_atomic((fs::path(dir) / "win_fraction.svg").string(), s.str());
  }
}

}  // namespace afa::analysis
