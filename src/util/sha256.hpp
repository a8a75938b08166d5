// Streaming SHA-256 (OpenSSL EVP): backup file digests, restore's staging tags.
#pragma once

#include <string>
#include <string_view>

namespace c2p {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256 &) = delete;
    Sha256 &operator=(const Sha256 &) = delete;
    void update(const void *data, size_t n);
    void update(std::string_view s) { update(s.data(), s.size()); }
    // Lowercase hex digest; the object is spent afterwards.
    std::string hex_final();

private:
    void *ctx_;
};

std::string sha256_hex(std::string_view data);

} // namespace c2p
