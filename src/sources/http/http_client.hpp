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
    // Another method (PUT, DELETE) with an optional JSON body; by default one attempt, as such requests
    // are not always safe to repeat.
    HttpResponse send(const std::string &method, const std::string &path, const std::string &json_body,
                      int attempts = 1);
    // The first request to a server that may still be starting (compose starts everything at once):
    // a refused or dropped connection, a 5xx or a 429 is retried with backoff until `wait_seconds`
    // have passed, logging one line per wait. Other failures (bad host name, TLS) fail at once.
    HttpResponse get_when_up(const std::string &path, double wait_seconds);
    const std::string &base_url() const { return base_; }

private:
    HttpResponse perform(const std::string &method, const std::string &path, const std::string *body, int attempts);
    // One request; `why` is set when it did not get a final answer (a curl error, a 5xx or a 429).
    int perform_once(const std::string &method, const std::string &path, const std::string *body, HttpResponse &r,
                     std::string &why);
    std::string base_;
    HttpAuth auth_;
    bool insecure_;
    void *curl_ = nullptr;
};

// How long the first request to a Chroma server keeps retrying while the server starts (--chroma-wait,
// default 60 s). Process-wide: set once from the command line, like the log level.
void set_chroma_start_wait(double seconds);
double chroma_start_wait();

// Splits "http://user:pw@host:port/prefix" into a credential-free base URL and the credentials.
struct ParsedUrl {
    std::string base; // scheme://host:port[/prefix], no trailing slash, no credentials
    std::string user, password;
};
ParsedUrl parse_url(const std::string &url);
// A server URL that ends with Chroma's API path (/api, /api/v1, /api/v2/...) is a usage error whose
// message gives the URL to use instead; other paths (a reverse proxy's prefix) are kept.
void reject_api_path(const std::string &url);

} // namespace c2p
