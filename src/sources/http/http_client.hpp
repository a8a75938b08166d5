// A small libcurl client: keep-alive, auth headers, TLS, and bounded retries with backoff.
#pragma once

#include <string>

namespace c2p {

struct HttpResponse {
    long status = 0;
    std::string body;
};

struct HttpAuth {
    std::string token;                         // empty = none
    std::string header = "x-chroma-token";     // or "authorization" → "Authorization: Bearer <token>"
    std::string basic_user, basic_password;    // from user:password@ in the URL
};

class HttpClient {
public:
    HttpClient(std::string base_url, HttpAuth auth, bool insecure_tls);
    ~HttpClient();
    HttpClient(const HttpClient &) = delete;
    HttpClient &operator=(const HttpClient &) = delete;

    // Retries transient failures (connection refused/reset, timeouts, 5xx, 429) up to `attempts`
    // times with exponential backoff; other statuses are returned to the caller.
    HttpResponse get(const std::string &path, int attempts = 6);
    HttpResponse post(const std::string &path, const std::string &json_body, int attempts = 6);
    const std::string &base_url() const { return base_; }

private:
    HttpResponse perform(const std::string &method, const std::string &path, const std::string *body, int attempts);
    std::string base_;
    HttpAuth auth_;
    bool insecure_;
    void *curl_ = nullptr;
};

// Splits "http://user:pw@host:port/prefix" into a credential-free base URL and the credentials.
struct ParsedUrl {
    std::string base; // scheme://host:port[/prefix], no trailing slash, no credentials
    std::string user, password;
};
ParsedUrl parse_url(const std::string &url);

} // namespace c2p
