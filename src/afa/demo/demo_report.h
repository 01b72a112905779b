// The demo's report, written from the numbers alone: results.json (everything measured), report.md and a
// self-contained report.html (images embedded, no network), fidelity_steps.svg (the paper's Fig. 4).
// The table follows the paper's layout (rows = methods, columns = measures, best in bold) and the
// findings say in words where AFA wins and where it does not; differences within two standard errors
// are called ties.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "afa/demo/demo_run.h"

namespace afa::demo {

nlohmann::json results_json(const DemoResult& r);
// The findings, one sentence each (also the first section of both reports).
std::vector<std::string> findings(const DemoResult& r);
// An SVG line chart of attribute accuracy against DDIM steps, one line per method.
std::string fidelity_steps_svg(const DemoResult& r);
// Writes results.json, report.md, report.html and fidelity_steps.svg into `dir` (each atomically).
void write_report(const DemoResult& r, const std::string& dir);

}  // namespace afa::demo
