#include "sim/k8s_api/certificates.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace selfheal::sim {
namespace {

struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("certificate generation: " + what + ": " + openssl_errors());
}

EvpPkeyPtr new_key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("EC P-256 key generation failed");
  return key;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail("bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

void set_name(X509_NAME* name, const std::string& cn, const std::string& org) {
  if (!org.empty())
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(org.c_str()),
                               -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                             -1, 0);
}

void random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail("RAND_bytes");
  bytes[0] &= 0x7f;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
}

}  // namespace

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error reported" : out;
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_text(bio.get());
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio.get());
}

CertificateAuthority::CertificateAuthority(const std::string& common_name, int valid_days)
    : valid_days_(valid_days) {
  ca_.key = new_key();
  ca_.cert.reset(X509_new());
  X509* cert = ca_.cert.get();
  X509_set_version(cert, 2);
  random_serial(cert);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);  // tolerate small clock skew of clients
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(valid_days) * 86400);
  set_name(X509_get_subject_name(cert), common_name, "");
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_set_pubkey(cert, ca_.key.get());
  add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  add_extension(cert, cert, NID_subject_key_identifier, "hash");
  if (X509_sign(cert, ca_.key.get(), EVP_sha256()) == 0) fail("signing the CA certificate");
  ca_.cert_pem = pem_of(cert);
  ca_.key_pem = pem_of(ca_.key.get());
}

IssuedCertificate CertificateAuthority::issue(const std::string& common_name, const std::string& organization,
                                              const std::string& subject_alt_names, bool server) const {
  IssuedCertificate out;
  out.key = new_key();
  out.cert.reset(X509_new());
  X509* cert = out.cert.get();
  X509_set_version(cert, 2);
  random_serial(cert);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(valid_days_) * 86400);
  set_name(X509_get_subject_name(cert), common_name, organization);
  X509_set_issuer_name(cert, X509_get_subject_name(ca_.cert.get()));
  X509_set_pubkey(cert, out.key.get());
  add_extension(cert, ca_.cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert, ca_.cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_extension(cert, ca_.cert.get(), NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
  add_extension(cert, ca_.cert.get(), NID_authority_key_identifier, "keyid:always");
  if (!subject_alt_names.empty()) add_extension(cert, ca_.cert.get(), NID_subject_alt_name, subject_alt_names);
  if (X509_sign(cert, ca_.key.get(), EVP_sha256()) == 0) fail("signing the certificate for " + common_name);
  out.cert_pem = pem_of(cert);
  out.key_pem = pem_of(out.key.get());
  return out;
}

IssuedCertificate CertificateAuthority::issue_server(const std::string& common_name,
                                                     const std::vector<std::string>& dns_names,
                                                     const std::vector<std::string>& ip_addresses) const {
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  return issue(common_name, "", san, true);
}

IssuedCertificate CertificateAuthority::issue_client(const std::string& user, const std::string& group) const {
  return issue(user, group, "", false);
}

}  // namespace selfheal::sim
