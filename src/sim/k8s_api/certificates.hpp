// Throwaway X.509 material for the simulated API server: a certificate authority made at start, a
// server certificate for 127.0.0.1/localhost signed by it, and client certificates on request (so
// tests can authenticate with a kubeconfig's client-certificate-data, as against a real cluster).
// Keys are ECDSA P-256: generation takes well under a millisecond, and kubectl (Go) accepts them.
//
// Threading: a CertificateAuthority is immutable after construction except issue_*(), which only
// read it; OpenSSL objects are reference counted, so concurrent issue_*() calls are safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace selfheal::sim {

struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// A certificate with its private key, both owned, plus their PEM text.
struct IssuedCertificate {
  X509Ptr cert;
  EvpPkeyPtr key;
  std::string cert_pem;
  std::string key_pem;
};

class CertificateAuthority {
 public:
  // Generates the CA key and its self-signed certificate. Throws std::runtime_error on OpenSSL
  // failure (with OpenSSL's own error text).
  explicit CertificateAuthority(const std::string& common_name, int valid_days = 365);

  // A server certificate whose subjectAltName lists the DNS names and IP addresses given.
  IssuedCertificate issue_server(const std::string& common_name, const std::vector<std::string>& dns_names,
                                 const std::vector<std::string>& ip_addresses) const;
  // A client certificate: Kubernetes reads the user from CN and the groups from O.
  IssuedCertificate issue_client(const std::string& user, const std::string& group) const;

  X509* cert() const { return ca_.cert.get(); }
  const std::string& cert_pem() const { return ca_.cert_pem; }

 private:
  IssuedCertificate issue(const std::string& common_name, const std::string& organization,
                          const std::string& subject_alt_names, bool server) const;
  IssuedCertificate ca_;
  int valid_days_;
};

// PEM helpers shared with the client side of the tests.
std::string pem_of(X509* cert);
std::string pem_of(EVP_PKEY* key);
// Last OpenSSL error queue entries as text (empties the queue).
std::string openssl_errors();

}  // namespace selfheal::sim
