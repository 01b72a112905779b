#include "afa/demo/demo_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "afa/io/base64.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"
#include "afa/util/progress.h"

namespace fs = std::filesystem;

namespace afa::demo {

namespace {

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}
std::string pm(const MeanSe& m, int digits) {
  return std::isfinite(m.mean) ? fixed(m.mean, digits) + " ± " + fixed(m.se, digits) : "n/a";
}

// One column of the main table: its values per method, how to print them, which way is better.
struct Column {
  std::string title;
  std::vector<double> value;
  std::vector<std::string> text;
  bool higher_better = true;
  bool bold_best = true;
  int digits = 3;  // as printed: values equal when printed are equally best
};

std::vector<Column> main_columns(const DemoResult& r) {
  const int64_t s = r.options.steps.front();
  std::vector<Column> cols(5);
  cols[0].title = "all right ↑";
  cols[1].title = "attributes ↑";
  cols[2].title = "toy FID ↓";
  cols[2].higher_better = false;
  cols[2].digits = 1;
  cols[3].title = "held-out MSE ↓";
  cols[3].higher_better = false;
  cols[3].digits = 4;
  cols[4].title = "s / image";
  cols[4].bold_best = false;
  for (const auto& m : r.methods) {
    const auto& f = m.fidelity.at(s);
    cols[0].value.push_back(f.all.mean), cols[0].text.push_back(pm(f.all, 3));
    cols[1].value.push_back(f.attributes.mean), cols[1].text.push_back(pm(f.attributes, 3));
    cols[2].value.push_back(f.toy_fid), cols[2].text.push_back(fixed(f.toy_fid, 1));
    cols[3].value.push_back(m.mse.all.mean), cols[3].text.push_back(pm(m.mse.all, 4));
    cols[4].value.push_back(m.seconds_per_image.at(s)), cols[4].text.push_back(fixed(m.seconds_per_image.at(s), 3));
  }
  return cols;
}

// Rows holding the best value of a column (as printed, so equal printed values are all bold).
std::vector<bool> best_rows(const Column& c) {
  std::vector<bool> best(c.value.size(), false);
  if (!c.bold_best) return best;
  const double scale = std::pow(10.0, c.digits);
  auto printed = [&](double v) { return std::round(v * scale); };
  double b = c.higher_better ? -INFINITY : INFINITY;
  for (double v : c.value)
    if (std::isfinite(v)) b = c.higher_better ? std::max(b, printed(v)) : std::min(b, printed(v));
  for (size_t i = 0; i < c.value.size(); ++i) best[i] = std::isfinite(c.value[i]) && printed(c.value[i]) == b;
  return best;
}

const MethodResult* find(const DemoResult& r, const std::string& id) {
  for (const auto& m : r.methods)
    if (m.method.id == id) return &m;
  return nullptr;
}

// "AFA vs X on a measure": win, loss or tie, by the paired difference over the rows both were measured on
// (the same images, noises and timesteps): a tie when it is within two standard errors of zero.
std::string compare(const MeanSe& a, const MeanSe& b, bool higher_better) {
  if (!std::isfinite(a.mean) || !std::isfinite(b.mean)) return "n/a";
  const MeanSe d = paired_difference(a, b);
  if (!std::isfinite(d.mean) || std::abs(d.mean) <= 2 * d.se) return "tie";
  return (d.mean > 0) == higher_better ? "win" : "loss";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  AFA_CHECK(in, path, ": cannot read it for the report");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}


std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string md_bold(const std::string& s) { return "**" + s + "**"; }

}  // namespace

nlohmann::json results_json(const DemoResult& r) {
  const auto& o = r.options;
  nlohmann::json j;
  j["protocol"] = {{"steps", o.steps},          {"seeds", o.seeds},
                   {"cfg_scale", o.cfg_scale},  {"sampler", "ddim (eta 0)"},
                   {"mse_images", o.mse_images}, {"mse_timesteps", o.mse_timesteps},
                   {"reference_images", o.reference_images}, {"models", o.models_dir},
                   {"quick", o.quick}};
  j["prompts"] = nlohmann::json::array();
  for (const auto& s : r.prompts) j["prompts"].push_back(caption(s));
  j["auto_mbw"] = {{"weights", r.auto_mbw.weights.to_string()}, {"score", r.auto_mbw.score},
                   {"trials", r.auto_mbw.trials}, {"searched_now", r.auto_mbw.searched}};
  if (r.vae_ceiling.accuracy.is_object())
    j["vae_ceiling"] = {{"accuracy", r.vae_ceiling.accuracy},
                        {"all", r.vae_ceiling.all.to_json()},
                        {"attributes", r.vae_ceiling.attributes.to_json()},
                        {"toy_fid", std::isfinite(r.vae_ceiling.toy_fid) ? nlohmann::json(r.vae_ceiling.toy_fid)
                                                                         : nlohmann::json()}};
  j["methods"] = nlohmann::json::array();
  for (const auto& m : r.methods) {
    nlohmann::json mj{{"id", m.method.id}, {"label", m.method.label}, {"group", m.method.group},
                      {"recipe", m.method.recipe}, {"models", m.method.models}, {"mse", m.mse.to_json()}};
    for (const auto& [steps, f] : m.fidelity)
      mj["steps"][std::to_string(steps)] = {{"accuracy", f.accuracy},
                                             {"all", f.all.to_json()},
                                             {"attributes", f.attributes.to_json()},
                                             {"toy_fid", std::isfinite(f.toy_fid) ? nlohmann::json(f.toy_fid) : nlohmann::json()},
                                             {"seconds_per_image", m.seconds_per_image.at(steps)},
                                             {"images", m.images.at(steps)}};
    j["methods"].push_back(mj);
  }
  j["attention_maps"] = nlohmann::json::array();
  for (const auto& [step, file] : r.attention_maps) j["attention_maps"].push_back({{"step", step}, {"grid", file}});
  j["attention_stages"] = r.attention_stages;
  j["grid"] = r.grid;
  j["seconds"] = r.seconds;
  j["machine"] = r.machine;
  return j;
}

// The prompts' true images through the base's VAE: what the best possible model could score.
std::string ceiling_line(const DemoResult& r) {
  const auto& c = r.vae_ceiling;
  if (!c.accuracy.is_object()) return "";
  std::string per;
  for (const char* k : {"position", "shape", "colour", "size", "background", "background_colour"})
    if (c.accuracy.contains(k)) per += std::string(per.empty() ? "" : ", ") + k + " " + fixed(c.accuracy[k].get<double>(), 3);
  return "Ceiling: the prompts' true images after an encode/decode round trip through the base's VAE score all "
         "right " + pm(c.all, 3) + ", attributes " + pm(c.attributes, 3) + " (" + per +
         "); no model that samples in this latent space can do better. The true images themselves read 0.99 and up.";
}

std::vector<std::string> findings(const DemoResult& r) {
  std::vector<std::string> out;
  if (r.vae_ceiling.accuracy.is_object() && r.vae_ceiling.attributes.mean < 0.9)
    out.push_back("The world's VAE is the limit of prompt fidelity: the prompts' true images, only encoded and "
                  "decoded, keep " + fixed(r.vae_ceiling.attributes.mean, 3) +
                  " of their attributes, so no method can follow prompts better than that here (the "
                  "denoising MSE, measured in the latent space, is not capped by it).");
  const MethodResult* afa = find(r, "afa");
  if (!afa) return out;
  const int64_t s = r.options.steps.front();
  struct Measure {
    std::string name;
    std::function<MeanSe(const MethodResult&)> get;
    bool higher_better;
  };
  const std::vector<Measure> measures = {
      {"held-out denoising MSE", [](const MethodResult& m) { return m.mse.all; }, false},
      {"prompt fidelity (all attributes right)", [s](const MethodResult& m) { return m.fidelity.at(s).all; }, true},
      {"attribute accuracy", [s](const MethodResult& m) { return m.fidelity.at(s).attributes; }, true}};
  for (const auto& group : {std::string("base models"), std::string("merges"), std::string("ensembles"),
                            std::string("ablations")}) {
    for (const auto& meas : measures) {
      std::vector<std::string> wins, ties, losses;
      for (const auto& m : r.methods) {
        if (m.method.group != group || m.method.id == "afa") continue;
        const std::string c = compare(meas.get(*afa), meas.get(m), meas.higher_better);
        if (c == "n/a") continue;
        (c == "win" ? wins : c == "tie" ? ties : losses).push_back(m.method.label);
      }
      if (wins.empty() && ties.empty() && losses.empty()) continue;
      auto list = [](const std::vector<std::string>& v) {
        std::string t;
        for (size_t i = 0; i < v.size(); ++i) t += (i ? ", " : "") + v[i];
        return t;
      };
      std::string line = "On " + meas.name + " against the " + group + ", AFA ";
      if (losses.empty() && ties.empty()) line += "beats every one (" + list(wins) + ").";
      else {
        std::vector<std::string> parts;
        if (!wins.empty()) parts.push_back("beats " + list(wins));
        if (!ties.empty()) parts.push_back("ties with " + list(ties));
        if (!losses.empty()) parts.push_back("LOSES to " + list(losses));
        line += list(parts) + ".";
      }
      out.push_back(line);
    }
  }
  if (r.options.steps.size() > 1) {
    const int64_t lo = *std::min_element(r.options.steps.begin(), r.options.steps.end());
    const int64_t hi = *std::max_element(r.options.steps.begin(), r.options.steps.end());
    std::vector<std::pair<double, std::string>> drops;
    for (const auto& m : r.methods)
      drops.emplace_back(m.fidelity.at(hi).attributes.mean - m.fidelity.at(lo).attributes.mean, m.method.label);
    std::sort(drops.begin(), drops.end());
    size_t rank = 0;
    for (size_t i = 0; i < drops.size(); ++i)
      if (drops[i].second == afa->method.label) rank = i + 1;
    const double afa_drop = afa->fidelity.at(hi).attributes.mean - afa->fidelity.at(lo).attributes.mean;
    auto signed3 = [](double v) { return (v >= 0 ? "+" : "") + fixed(v, 3); };
    out.push_back("Fewer steps: from " + std::to_string(hi) + " to " + std::to_string(lo) +
                  " DDIM steps AFA's attribute accuracy changes by " + signed3(-afa_drop) + "; rank " +
                  std::to_string(rank) + " of " + std::to_string(drops.size()) +
                  " by that change (1 = the largest gain or smallest loss: " + drops.front().second + ", " +
                  signed3(-drops.front().first) + ").");
  }
  return out;
}

std::string fidelity_steps_svg(const DemoResult& r) {
  std::vector<int64_t> steps = r.options.steps;
  std::sort(steps.begin(), steps.end());
  const double W = 760, H = 420, left = 60, right = 230, top = 20, bottom = 50;
  double lo = 1, hi = 0;
  for (const auto& m : r.methods)
    for (int64_t s : steps) lo = std::min(lo, m.fidelity.at(s).attributes.mean), hi = std::max(hi, m.fidelity.at(s).attributes.mean);
  lo = std::max(0.0, std::floor(lo * 20 - 1) / 20), hi = std::min(1.0, std::ceil(hi * 20 + 1) / 20);
  if (hi <= lo) hi = lo + 0.05;
  auto x = [&](size_t i) { return left + (steps.size() == 1 ? 0.5 : double(i) / double(steps.size() - 1)) * (W - left - right); };
  auto y = [&](double v) { return top + (hi - v) / (hi - lo) * (H - top - bottom); };
  static const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f", "#9467bd", "#8c564b", "#e377c2",
                                  "#17becf", "#bcbd22", "#aec7e8", "#d62728", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94"};
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
    << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4;
    o << "<line x1=\"" << left << "\" x2=\"" << W - right << "\" y1=\"" << y(v) << "\" y2=\"" << y(v)
      << "\" stroke=\"#ddd\"/><text x=\"" << left - 6 << "\" y=\"" << y(v) + 4 << "\" text-anchor=\"end\">" << fixed(v, 2)
      << "</text>\n";
  }
  for (size_t i = 0; i < steps.size(); ++i)
    o << "<text x=\"" << x(i) << "\" y=\"" << H - bottom + 18 << "\" text-anchor=\"middle\">" << steps[i] << "</text>\n";
  o << "<text x=\"" << (left + W - right) / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">DDIM steps</text>\n"
    << "<text transform=\"translate(16," << (top + H - bottom) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << "attribute accuracy</text>\n";
  size_t k = 0;
  for (const auto& m : r.methods) {
    const bool afa = m.method.id == "afa";
    const std::string colour = afa ? "#000" : palette[k++ % 15];
    o << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"" << (afa ? 3.5 : 1.5) << "\""
      << (m.method.group == "ablations" ? " stroke-dasharray=\"5,3\"" : "") << " points=\"";
    for (size_t i = 0; i < steps.size(); ++i) o << x(i) << "," << y(m.fidelity.at(steps[i]).attributes.mean) << " ";
    o << "\"/>\n";
    for (size_t i = 0; i < steps.size(); ++i)  // markers: a single step count is a point, not a line
      o << "<circle cx=\"" << x(i) << "\" cy=\"" << y(m.fidelity.at(steps[i]).attributes.mean) << "\" r=\""
        << (afa ? 4 : 2.5) << "\" fill=\"" << colour << "\"/>\n";
    const double ly = top + 14 * double(&m - &r.methods[0]);
    o << "<line x1=\"" << W - right + 12 << "\" x2=\"" << W - right + 36 << "\" y1=\"" << ly + 8 << "\" y2=\"" << ly + 8
      << "\" stroke=\"" << colour << "\" stroke-width=\"" << (afa ? 3.5 : 1.5) << "\"/><text x=\"" << W - right + 42
      << "\" y=\"" << ly + 12 << "\"" << (afa ? " font-weight=\"bold\"" : "") << ">" << html_escape(m.method.label)
      << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

void write_report(const DemoResult& r, const std::string& dir) {
  const auto& o = r.options;
  const int64_t s = o.steps.front();
  const auto cols = main_columns(r);
  std::vector<std::vector<bool>> best;
  for (const auto& c : cols) best.push_back(best_rows(c));
  const auto found = findings(r);
  const std::string svg = fidelity_steps_svg(r);
  const std::string ceiling = ceiling_line(r);
  write_text_atomic((fs::path(dir) / "fidelity_steps.svg").string(), svg);
  write_text_atomic((fs::path(dir) / "results.json").string(), results_json(r).dump(2) + "\n");

  std::ostringstream intro;
  intro << r.prompts.size() << " held-out prompts × " << o.seeds << " seeds (image k of prompt i from seed i·seeds + k, the same "
        << "noise for every method), DDIM (eta 0) with CFG " << fixed(o.cfg_scale, 1) << "; the table at " << s << " steps. "
        << "Fidelity is read back by the toy classifier; toy FID compares classifier features with "
        << o.reference_images << " held-out true images; held-out MSE is the denoising loss on " << o.mse_images
        << " held-out images at timesteps";
  for (auto t : o.mse_timesteps) intro << " " << t;
  intro << " (MagicFusion has none: it picks among guided noises, so it has no unguided prediction). The findings"
           " compare methods by paired differences over the same images and noises; a tie is a difference within"
           " two standard errors of zero. Mean ± standard error. Run time " << format_duration(r.seconds) << " on " << r.machine << ".";

  // report.md
  std::ostringstream md;
  md << "# afa demo: ensembling diffusion models in the toy world\n\n" << intro.str() << "\n\n## Findings\n\n";
  for (const auto& f : found) md << "- " << f << "\n";
  md << "\n## The table (" << s << " DDIM steps)\n\n| group | method |";
  for (const auto& c : cols) md << " " << c.title << " |";
  md << "\n|---|---|";
  for (size_t i = 0; i < cols.size(); ++i) md << "---:|";
  md << "\n";
  for (size_t i = 0; i < r.methods.size(); ++i) {
    const auto& m = r.methods[i];
    md << "| " << m.method.group << " | " << (m.method.id == "afa" ? md_bold(m.method.label) : m.method.label) << " |";
    for (size_t c = 0; c < cols.size(); ++c) md << " " << (best[c][i] ? md_bold(cols[c].text[i]) : cols[c].text[i]) << " |";
    md << "\n";
  }
  if (!ceiling.empty()) md << "\n" << ceiling << "\n";
  md << "\n## Fewer steps (the paper's Fig. 4)\n\n![attribute accuracy against steps](fidelity_steps.svg)\n\n| method |";
  for (auto st : o.steps) md << " all right @" << st << " | attributes @" << st << " |";
  md << "\n|---|";
  for (size_t i = 0; i < o.steps.size(); ++i) md << "---:|---:|";
  md << "\n";
  for (const auto& m : r.methods) {
    md << "| " << m.method.label << " |";
    for (auto st : o.steps) md << " " << pm(m.fidelity.at(st).all, 3) << " | " << pm(m.fidelity.at(st).attributes, 3) << " |";
    md << "\n";
  }
  md << "\n## Held-out denoising MSE by expert subset\n\n| method |";
  std::vector<std::string> subsets;
  for (const auto& [k, v] : r.methods.front().mse.by_subset) subsets.push_back(k);
  for (const auto& k : subsets) md << " " << k << " |";
  md << "\n|---|";
  for (size_t i = 0; i < subsets.size(); ++i) md << "---:|";
  md << "\n";
  for (const auto& m : r.methods) {
    md << "| " << m.method.label << " |";
    for (const auto& k : subsets) md << " " << (m.mse.by_subset.count(k) ? pm(m.mse.by_subset.at(k), 4) : "–") << " |";
    md << "\n";
  }
  md << "\n## Images (" << s << " steps, the first seed of each prompt)\n\nColumns: the prompts below, in order. Rows, top to bottom: ";
  for (size_t i = 0; i < r.methods.size(); ++i) md << (i ? ", " : "") << r.methods[i].method.label;
  md << ".\n\n![images](" << r.grid << ")\n\n";
  for (size_t i = 0; i < r.prompts.size(); ++i) md << i + 1 << ". " << caption(r.prompts[i]) << "\n";
  if (!r.attention_maps.empty()) {
    md << "\n## AFA's attention maps (the paper's Fig. 6)\n\nFirst prompt, its first seed; in each grid the rows are "
          "aggregation points";
    for (auto st : r.attention_stages) md << " " << st;
    md << " (first and penultimate block) and the columns the experts (round, warm, pair); bright = high weight.\n\n";
    for (const auto& [step, file] : r.attention_maps) md << "Step " << step << ": ![step " << step << "](" << file << ")\n\n";
  }
  if (!r.analysis_figures.empty()) {
    md << "\n## Where each expert denoises best (afa analyze; the paper's Fig. 1)\n\nThe first prompt's true image,"
          " noised to each timestep with 16 noises; each 2×2 latent patch is tinted by the contender (the three"
          " experts and AFA) with the smallest noise-prediction error most often; grey: ties. Numbers in"
          " analysis/analysis.json.\n\n";
    for (const auto& [t, file] : r.analysis_figures) md << "![t = " << t << "](" << file << ") ";
    md << "\n\n![win proportions of three patches over the timesteps](" << r.analysis_bars << ")\n";
  }
  md << "\n## Methods\n\n| method | how it is made |\n|---|---|\n";
  for (const auto& m : r.methods) md << "| " << m.method.label << " | " << m.method.recipe << " |\n";
  write_text_atomic((fs::path(dir) / "report.md").string(), md.str());

  // report.html: the same, with every image embedded.
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>afa demo</title><style>"
       "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
       "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
       "td:first-child,td:nth-child(2),th{text-align:left}tr.afa{background:#fff6d5}"
       "img.px{image-rendering:pixelated;width:96px;height:96px}td.img{padding:1px}"
       "</style></head><body>\n<h1>afa demo: ensembling diffusion models in the toy world</h1>\n<p>"
    << html_escape(intro.str()) << "</p>\n<h2>Findings</h2>\n<ul>\n";
  for (const auto& f : found) h << "<li>" << html_escape(f) << "</li>\n";
  h << "</ul>\n<h2>The table (" << s << " DDIM steps)</h2>\n<table id=\"main-table\"><tr><th>group</th><th>method</th>";
  for (const auto& c : cols) h << "<th>" << html_escape(c.title) << "</th>";
  h << "</tr>\n";
  for (size_t i = 0; i < r.methods.size(); ++i) {
    const auto& m = r.methods[i];
    h << "<tr" << (m.method.id == "afa" ? " class=\"afa\"" : "") << "><td>" << m.method.group << "</td><td>"
      << html_escape(m.method.label) << "</td>";
    for (size_t c = 0; c < cols.size(); ++c)
      h << "<td>" << (best[c][i] ? "<b>" + cols[c].text[i] + "</b>" : cols[c].text[i]) << "</td>";
    h << "</tr>\n";
  }
  h << "</table>\n";
  if (!ceiling.empty()) h << "<p id=\"ceiling\">" << html_escape(ceiling) << "</p>\n";
  h << "<h2>Fewer steps (the paper's Fig. 4)</h2>\n" << svg << "<h2>Images (" << s
    << " steps, the first seed of each prompt)</h2>\n<table id=\"images\"><tr><th>method</th>";
  for (size_t i = 0; i < r.prompts.size(); ++i) h << "<th title=\"" << html_escape(caption(r.prompts[i])) << "\">" << i + 1 << "</th>";
  h << "</tr>\n";
  for (const auto& m : r.methods) {
    h << "<tr" << (m.method.id == "afa" ? " class=\"afa\"" : "") << "><td>" << html_escape(m.method.label) << "</td>";
    const auto& files = m.images.at(s);
    for (size_t i = 0; i < r.prompts.size(); ++i)
      h << "<td class=\"img\"><img class=\"px\" alt=\"" << html_escape(m.method.label) << ", prompt " << i + 1
        << "\" src=\"" << io::data_uri((fs::path(dir) / files.at(i * static_cast<size_t>(o.seeds))).string(), "image/png")
        << "\"></td>";
    h << "</tr>\n";
  }
  h << "</table>\n<ol>\n";
  for (const auto& p : r.prompts) h << "<li>" << html_escape(caption(p)) << "</li>\n";
  h << "</ol>\n";
  if (!r.attention_maps.empty()) {
    h << "<h2>AFA's attention maps (the paper's Fig. 6)</h2>\n<p>First prompt, its first seed. Rows: aggregation points";
    for (auto st : r.attention_stages) h << " " << st;
    h << " (first and penultimate block); columns: the experts round, warm, pair; bright = high weight.</p>\n";
    for (const auto& [step, file] : r.attention_maps)
      h << "<figure style=\"display:inline-block\"><img alt=\"attention maps at step " << step << "\" src=\""
        << io::data_uri((fs::path(dir) / file).string(), "image/png") << "\"><figcaption>step " << step
        << "</figcaption></figure>\n";
  }
  if (!r.analysis_figures.empty()) {
    h << "<h2>Where each expert denoises best (afa analyze; the paper's Fig. 1)</h2>\n<p>The first prompt's true "
         "image, noised to each timestep with 16 noises; each 2×2 latent patch is tinted by the contender (the "
         "three experts and AFA) with the smallest noise-prediction error most often; grey: ties.</p>\n";
    for (const auto& [t, file] : r.analysis_figures) h << read_file((fs::path(dir) / file).string());
    h << read_file((fs::path(dir) / r.analysis_bars).string());
  }
  h << "<h2>Methods</h2>\n<table><tr><th>method</th><th>how it is made</th></tr>\n";
  for (const auto& m : r.methods)
    h << "<tr><td>" << html_escape(m.method.label) << "</td><td style=\"text-align:left\">" << html_escape(m.method.recipe)
      << "</td></tr>\n";
  h << "</table>\n<p>Full numbers: results.json. Made by <code>afa demo</code>.</p>\n</body></html>\n";
  write_text_atomic((fs::path(dir) / "report.html").string(), h.str());
}

}  // namespace afa::demo
