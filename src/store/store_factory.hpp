// Opens the configured store (store.backend): sqlite (default), postgres, or none.
#pragma once

#include <memory>

#include "core/config.hpp"
#include "core/metrics.hpp"
#include "store/store.hpp"

namespace selfheal {

void declare_store_config(ConfigSchema& schema);
// Throws std::runtime_error naming the backend and what to do when it cannot be opened.
// `metrics` (optional) receives the postgres backend's selfheal_store_* series.
std::unique_ptr<Store> open_store(const Config& config, MetricsRegistry* metrics = nullptr);

}  // namespace selfheal
