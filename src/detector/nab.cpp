#include "detector/nab.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace selfheal::detector::nab {
namespace fs = std::filesystem;

namespace {
// Days since 1970-01-01 of a civil date (proleptic Gregorian), without touching time zones.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\n')) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && s[b] == ' ') ++b;
  return s.substr(b);
}
}  // namespace

bool parse_timestamp(const std::string& s, std::int64_t& out) {
  // Fixed layout "YYYY-MM-DD HH:MM:SS" (or 'T'), optionally followed by a fraction: parsed by hand
  // because the corpus has 365k of them and sscanf dominated the load time.
  if (s.size() < 19) return false;
  auto digits = [&](std::size_t pos, std::size_t n, int& v) {
    v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (!digits(0, 4, y) || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' || !digits(8, 2, d) ||
      (s[10] != ' ' && s[10] != 'T') || !digits(11, 2, h) || s[13] != ':' || !digits(14, 2, mi) || s[16] != ':' ||
      !digits(17, 2, sec))
    return false;
  if (s.size() > 19 && s[19] != '.' && s[19] != 'Z') return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
  out = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + sec;
  return true;
}

Series read_series(const std::string& path, const std::string& category) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  Series s;
  s.category = category;
  s.file = fs::path(path).filename().string();
  std::string line;
  if (!std::getline(in, line)) throw std::runtime_error(path + ": empty file (expected a timestamp,value header)");
  line = trim(line);
  auto comma = line.find(',');
  if (comma == std::string::npos || trim(line.substr(0, comma)) != "timestamp")
    throw std::runtime_error(path + ":1: expected header 'timestamp,value', got '" + line + "'");
  std::size_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    line = trim(line);
    if (line.empty()) continue;
    comma = line.find(',');
    std::string ts_text = trim(line.substr(0, comma));
    std::int64_t ts;
    if (!parse_timestamp(ts_text, ts))
      throw std::runtime_error(path + ":" + std::to_string(lineno) + ": timestamp '" + ts_text + "' is not YYYY-MM-DD HH:MM:SS");
    double v = std::numeric_limits<double>::quiet_NaN();
    if (comma != std::string::npos) {
      std::string vt = trim(line.substr(comma + 1));
      auto c2 = vt.find(',');
      if (c2 != std::string::npos) vt = trim(vt.substr(0, c2));
      char* end = nullptr;
      double parsed = vt.empty() ? 0 : std::strtod(vt.c_str(), &end);
      if (!vt.empty() && end && *end == '\0' && std::isfinite(parsed)) v = parsed;
    }
    if (std::isnan(v)) ++s.skipped;
    s.timestamps.push_back(ts);
    s.timestamp_text.push_back(ts_text);
    s.values.push_back(v);
  }
  return s;
}

std::vector<Series> read_corpus(const std::string& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error(dir + ": not a directory");
  std::vector<std::pair<std::string, std::string>> files;  // (category, path)
  for (const auto& cat : fs::directory_iterator(dir)) {
    if (!cat.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(cat.path()))
      if (f.is_regular_file() && f.path().extension() == ".csv")
        files.emplace_back(cat.path().filename().string(), f.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<Series> out;
  out.reserve(files.size());
  for (const auto& [cat, path] : files) out.push_back(read_series(path, cat));
  return out;
}

Windows read_windows(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open labels file");
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw std::runtime_error(path + ": expected a JSON object of file -> windows");
  Windows w;
  for (auto it = j.begin(); it != j.end(); ++it) {
    auto& list = w[it.key()];
    if (!it->is_array()) throw std::runtime_error(path + ": " + it.key() + ": expected a list of [start, end]");
    for (const auto& pair : *it) {
      std::int64_t a, b;
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string() ||
          !parse_timestamp(pair[0].get<std::string>(), a) || !parse_timestamp(pair[1].get<std::string>(), b))
        throw std::runtime_error(path + ": " + it.key() + ": window " + pair.dump() + " is not [start, end] timestamps");
      list.emplace_back(a, b);
    }
  }
  return w;
}

const std::vector<Profile>& profiles() {
  static const std::vector<Profile> kProfiles = {
      {"standard", 1.0, 0.11, 1.0}, {"reward_low_FP_rate", 1.0, 0.22, 1.0}, {"reward_low_FN_rate", 1.0, 0.11, 2.0}};
  return kProfiles;
}

double scaled_sigmoid(double y) {
  if (y > 3.0) return -1.0;
  return 2.0 / (1.0 + std::exp(5.0 * y)) - 1.0;
}

namespace {
// One scorable row: its detector score, and where it sits relative to the labelled windows.
struct Point {
  double score;
  int window;        // global window index, -1 outside windows
  double tp_weight;  // unweighted scaled sigmoid in a window (before A_TP/maxTP)
  double fp_weight;  // unweighted scaled sigmoid outside (before A_FP); negative
  int file;
};

struct FileLayout {
  std::string category;
  int first_window = 0;
  int windows = 0;  // scorable windows
};
}  // namespace

std::vector<ProfileResult> score_corpus(const std::vector<ScoredFile>& files, const Windows& windows,
                                        std::vector<std::string>* unlabelled) {
  std::vector<Point> points;
  std::vector<FileLayout> layouts;
  std::vector<int> window_file;
  const double max_tp = scaled_sigmoid(-1.0);
  for (const auto& f : files) {
    auto wit = windows.find(f.category + "/" + f.file);
    if (wit == windows.end()) {
      if (unlabelled) unlabelled->push_back(f.category + "/" + f.file);
      continue;
    }
    const int file_index = static_cast<int>(layouts.size());
    FileLayout layout{f.category, static_cast<int>(window_file.size()), 0};
    const auto& ts = f.timestamps;
    const std::size_t n = ts.size();
    const std::size_t probation = std::min<std::size_t>(static_cast<std::size_t>(std::floor(0.15 * n)), 750);
    // Window limits as row indices: [first row at/after start, last row at/before end].
    std::vector<std::pair<std::size_t, std::size_t>> idx;
    for (const auto& [a, b] : wit->second) {
      auto lo = static_cast<std::size_t>(std::lower_bound(ts.begin(), ts.end(), a) - ts.begin());
      auto hi = static_cast<std::size_t>(std::upper_bound(ts.begin(), ts.end(), b) - ts.begin());
      if (lo >= hi) continue;
      idx.emplace_back(lo, hi - 1);
    }
    std::vector<int> local_to_global(idx.size(), -1);
    std::size_t next = 0;
    long cur = -1;  // index in idx of the window we are in
    double prev_width = 0;
    long prev_right = -1;
    for (std::size_t i = 0; i < n; ++i) {
      if (cur < 0 && next < idx.size() && i == idx[next].first) cur = static_cast<long>(next++);
      Point p{i < f.scores.size() ? f.scores[i] : 0.0, -1, 0, 0, file_index};
      if (cur >= 0) {
        const double right = static_cast<double>(idx[cur].second);
        const double width = static_cast<double>(idx[cur].second - idx[cur].first + 1);
        p.tp_weight = scaled_sigmoid(-(right - static_cast<double>(i) + 1.0) / width) / max_tp;
        if (i >= probation) {
          if (local_to_global[cur] < 0) {
            local_to_global[cur] = static_cast<int>(window_file.size());
            window_file.push_back(file_index);
            ++layout.windows;
          }
          p.window = local_to_global[cur];
        }
      } else {
        p.fp_weight = prev_right < 0 ? -1.0
                                     : scaled_sigmoid(std::abs(static_cast<double>(prev_right) - static_cast<double>(i)) /
                                                      (prev_width - 1.0));
      }
      if (i >= probation) points.push_back(p);
      if (cur >= 0 && i == idx[cur].second) {
        prev_width = static_cast<double>(idx[cur].second - idx[cur].first + 1);
        prev_right = static_cast<long>(i);
        cur = -1;
      }
    }
    layouts.push_back(layout);
  }
  const int total_windows = static_cast<int>(window_file.size());

  std::vector<std::size_t> order(points.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return points[a].score > points[b].score; });

  std::vector<ProfileResult> results;
  for (const auto& prof : profiles()) {
    // Sweep: lower the threshold one distinct score at a time; a window counts its best
    // (= earliest) detection, every detection outside a window adds its FP penalty.
    std::vector<double> best(total_windows, std::numeric_limits<double>::quiet_NaN());
    double cur_score = -total_windows * prof.fn;
    double cur_threshold = 1.1;
    double best_total = cur_score, best_threshold = cur_threshold;
    for (std::size_t k = 0; k < order.size(); ++k) {
      const Point& p = points[order[k]];
      if (p.score != cur_threshold) {
        if (cur_score > best_total) { best_total = cur_score; best_threshold = cur_threshold; }
        cur_threshold = p.score;
      }
      if (p.window < 0) {
        cur_score += p.fp_weight * prof.fp;
      } else {
        double w = p.tp_weight * prof.tp;
        double& b = best[p.window];
        if (std::isnan(b)) { cur_score += prof.fn + w; b = w; }
        else if (w > b) { cur_score += w - b; b = w; }
      }
    }
    if (cur_score > best_total) { best_total = cur_score; best_threshold = cur_threshold; }

    // Per-category breakdown at the chosen threshold.
    ProfileResult r;
    r.profile = prof.name;
    r.threshold = best_threshold;
    std::map<std::string, CategoryScore> cats;
    std::vector<double> win_best(total_windows, std::numeric_limits<double>::quiet_NaN());
    for (const auto& l : layouts) {
      auto& c = cats[l.category];
      c.category = l.category;
      c.windows += l.windows;
    }
    for (const auto& p : points) {
      if (!(p.score >= best_threshold)) continue;
      auto& c = cats[layouts[p.file].category];
      if (p.window < 0) { c.raw += p.fp_weight * prof.fp; ++c.false_positives; }
      else {
        double w = p.tp_weight * prof.tp;
        if (std::isnan(win_best[p.window]) || w > win_best[p.window]) win_best[p.window] = w;
      }
    }
    for (int w = 0; w < total_windows; ++w) {
      auto& c = cats[layouts[window_file[w]].category];
      if (std::isnan(win_best[w])) c.raw -= prof.fn;
      else { c.raw += win_best[w]; ++c.detected; }
    }
    for (auto& [name, c] : cats) {
      double null_s = -c.windows * prof.fn, perfect = c.windows * prof.tp;
      c.normalized = c.windows > 0 ? 100.0 * (c.raw - null_s) / (perfect - null_s) : 0.0;
      r.raw += c.raw;
      r.categories.push_back(c);
    }
    r.null_score = -total_windows * prof.fn;
    r.perfect_score = total_windows * prof.tp;
    r.normalized = total_windows > 0 ? 100.0 * (r.raw - r.null_score) / (r.perfect_score - r.null_score) : 0.0;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace selfheal::detector::nab
