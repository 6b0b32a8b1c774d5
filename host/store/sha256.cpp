// SHA-256 through OpenSSL's libcrypto (EVP), streaming, so plugin libraries
// and checkpoints of any size hash in constant memory.
#include "store/sha256.hpp"

#include "store/database.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>

namespace distill::store {
namespace {

class Digest {
public:
    Digest() : context_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
        if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1)
            throw StoreError("sha256: cannot initialise OpenSSL's digest");
    }
    void update(const void* data, size_t size) { EVP_DigestUpdate(context_.get(), data, size); }
    std::string hex() {
        std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
        unsigned int size = 0;
        EVP_DigestFinal_ex(context_.get(), digest.data(), &size);
        std::string out;
        char byte[3];
        for (unsigned int i = 0; i < size; ++i) {
            std::snprintf(byte, sizeof byte, "%02x", digest[i]);
            out += byte;
        }
        return out;
    }

private:
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context_;
};

}  // namespace

std::string sha256_hex(const std::string& data) {
    Digest digest;
    digest.update(data.data(), data.size());
    return digest.hex();
}

std::string sha256_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw StoreError("cannot read '" + path.string() + "' to hash it");
    Digest digest;
    std::array<char, 1 << 16> buffer{};
    while (in) {
        in.read(buffer.data(), buffer.size());
        digest.update(buffer.data(), static_cast<size_t>(in.gcount()));
    }
    if (in.bad()) throw StoreError("error reading '" + path.string() + "' to hash it");
    return digest.hex();
}

}  // namespace distill::store
