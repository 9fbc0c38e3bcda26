// Shared fixture for the k8s tests: a FakeCluster behind a K8sApiServer on 127.0.0.1:<free port>,
// with its kubeconfig written to a temp dir that is removed afterwards.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "fake_cluster.hpp"
#include "sim/k8s_api/k8s_api_server.hpp"

namespace selfheal::test {

inline std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "selfheal-k8s-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class K8sApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    sim::K8sApiServerOptions options;
    options.listen = "127.0.0.1:0";
    options.read_only_token = "viewer-token-0123456789";
    server_ = std::make_unique<sim::K8sApiServer>(cluster_, options, &metrics_);
    server_->start();
    kubeconfig_ = dir_ + "/kubeconfig";
    server_->write_kubeconfig(kubeconfig_);
  }
  void TearDown() override {
    server_->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  FakeCluster cluster_;
  MetricsRegistry metrics_;
  std::unique_ptr<sim::K8sApiServer> server_;
  std::string dir_;
  std::string kubeconfig_;
};

}  // namespace selfheal::test
