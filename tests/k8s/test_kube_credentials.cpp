// Kubeconfig parsing: files relative to the kubeconfig, contexts, and errors that name the file
// and the field.
#include <gtest/gtest.h>

#include <filesystem>

#include "k8s_test_env.hpp"
#include "remediator/kubernetes/http_kubernetes_client.hpp"
#include "remediator/kubernetes/kube_util.hpp"

namespace selfheal::test {
namespace {

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(const std::string& text) {
    std::string path = dir_ + "/config";
    write_text(path, text);
    return path;
  }
  // The error message of load_kubeconfig, or "" when it did not throw.
  std::string error_of(const std::string& text, const std::string& context = "") {
    try {
      load_kubeconfig(write(text), context);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }
  std::string dir_;
};

const char* kTwoContexts = R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: certs/ca.pem
- name: lab
  cluster:
    server: https://lab.example:443/k8s/clusters/c-1
    insecure-skip-tls-verify: true
users:
- name: robot
  user:
    tokenFile: token.txt
- name: human
  user:
    client-certificate: certs/me.crt
    client-key: certs/me.key
contexts:
- name: prod-robot
  context: {cluster: prod, user: robot, namespace: payments}
- name: lab-human
  context: {cluster: lab, user: human}
current-context: prod-robot
)";

TEST_F(KubeconfigTest, ResolvesFilesRelativeToTheKubeconfigAndPicksTheContext) {
  std::filesystem::create_directories(dir_ + "/certs");
  write_text(dir_ + "/certs/ca.pem", "CA PEM");
  write_text(dir_ + "/certs/me.crt", "CERT PEM");
  write_text(dir_ + "/certs/me.key", "KEY PEM");
  write_text(dir_ + "/token.txt", "abc\n");
  std::string path = write(kTwoContexts);
  KubeCredentials prod = load_kubeconfig(path);
  EXPECT_EQ(prod.server, "https://10.0.0.1:6443");
  EXPECT_EQ(prod.ca_data, "CA PEM");
  EXPECT_EQ(prod.token_file, dir_ + "/token.txt");
  EXPECT_EQ(prod.default_namespace, "payments");
  KubeCredentials lab = load_kubeconfig(path, "lab-human");
  EXPECT_EQ(lab.server, "https://lab.example:443/k8s/clusters/c-1");
  EXPECT_TRUE(lab.insecure_skip_tls_verify);
  EXPECT_EQ(lab.client_cert_data, "CERT PEM");
  EXPECT_EQ(lab.client_key_data, "KEY PEM");
  EXPECT_EQ(lab.default_namespace, "default");
}

TEST_F(KubeconfigTest, ErrorsNameTheFileAndTheField) {
  EXPECT_NE(error_of(kTwoContexts, "nope").find("no entry named \"nope\" (have: prod-robot, lab-human)"), std::string::npos);
  std::string e = error_of(kTwoContexts);  // certs/ca.pem does not exist
  EXPECT_NE(e.find(dir_ + "/config"), std::string::npos) << e;
  EXPECT_NE(e.find("clusters[prod].cluster.certificate-authority"), std::string::npos) << e;

  e = error_of("clusters:\n- name: c\n  cluster:\n    server: https://x\n    certificate-authority-data: '***'\n"
               "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n");
  EXPECT_NE(e.find("clusters[c].cluster.certificate-authority-data: not valid base64"), std::string::npos) << e;

  e = error_of("clusters:\n- name: c\n  cluster:\n    server: https://x\nusers:\n- name: u\n  user:\n    exec: {command: aws}\n"
               "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n");
  EXPECT_NE(e.find("users[u].user.exec: not supported"), std::string::npos) << e;

  e = error_of("clusters:\n- name: c\n  cluster:\n    server: x.example\n"
               "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n");
  EXPECT_NE(e.find("clusters[c].cluster.server"), std::string::npos) << e;

  e = error_of("clusters: [unclosed");
  EXPECT_NE(e.find("not valid YAML"), std::string::npos) << e;
  e = error_of("clusters: []\n");
  EXPECT_NE(e.find("current-context: missing"), std::string::npos) << e;

  try {
    load_kubeconfig(dir_ + "/absent");
    FAIL();
  } catch (const std::runtime_error& err) {
    EXPECT_NE(std::string(err.what()).find(dir_ + "/absent"), std::string::npos);
  }
}

TEST_F(KubeconfigTest, InClusterCredentialsNameWhatIsMissing) {
  unsetenv("KUBERNETES_SERVICE_HOST");
  try {
    load_in_cluster_credentials(dir_);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  }
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  try {
    load_in_cluster_credentials(dir_);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + "/token"), std::string::npos);
  }
  write_text(dir_ + "/token", "t");
  write_text(dir_ + "/ca.crt", "ca");
  KubeCredentials c = load_in_cluster_credentials(dir_);
  EXPECT_EQ(c.server, "https://[fd00::1]:443");
  EXPECT_EQ(c.default_namespace, "default");  // no namespace file
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST(KubeUtil, ParsesRfc3339AndBase64) {
  TimeMs t = 0;
  ASSERT_TRUE(kube::parse_rfc3339("2026-11-24T10:00:00Z", t));
  EXPECT_EQ(kube::format_rfc3339(t), "2026-11-24T10:00:00Z");
  TimeMs u = 0;
  ASSERT_TRUE(kube::parse_rfc3339("2026-11-24T11:00:00.250+01:00", u));
  EXPECT_EQ(u, t + 250);
  EXPECT_FALSE(kube::parse_rfc3339("2026-11-24 10:00:00", t));
  std::string out;
  ASSERT_TRUE(kube::base64_decode("aGVs\nbG8=", out));
  EXPECT_EQ(out, "hello");
  EXPECT_FALSE(kube::base64_decode("aGVs*", out));
  EXPECT_TRUE(kube::valid_object_name("orders-5f0000001-00001"));
  EXPECT_FALSE(kube::valid_object_name("Orders"));
  EXPECT_FALSE(kube::valid_object_name("a/b"));
  EXPECT_FALSE(kube::valid_object_name("-a"));
}

}  // namespace
}  // namespace selfheal::test
