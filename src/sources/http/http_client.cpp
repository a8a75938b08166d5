#include "sources/http/http_client.hpp"

#include <atomic>
#include <chrono>
#include <thread>

#include <curl/curl.h>
#include <fmt/format.h>

#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

size_t on_body(char *p, size_t size, size_t n, void *ud) {
    static_cast<std::string *>(ud)->append(p, size * n);
    return size * n;
}

bool transient_curl(CURLcode c) {
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

struct CurlGlobal {
    CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

} // namespace

ParsedUrl parse_url(const std::string &url) {
    ParsedUrl p;
    auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) throw UsageError("not a URL: " + url);
    std::string scheme = url.substr(0, scheme_end);
    std::string rest = url.substr(scheme_end + 3);
    auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash);
    if (auto at = authority.rfind('@'); at != std::string::npos) {
        std::string cred = authority.substr(0, at);
        authority = authority.substr(at + 1);
        auto colon = cred.find(':');
        p.user = cred.substr(0, colon);
        if (colon != std::string::npos) p.password = cred.substr(colon + 1);
    }
    while (!path.empty() && path.back() == '/') path.pop_back();
    p.base = scheme + "://" + authority + path;
    return p;
}

HttpClient::HttpClient(std::string base_url, HttpAuth auth, bool insecure_tls)
    : base_(std::move(base_url)), auth_(std::move(auth)), insecure_(insecure_tls) {
    static CurlGlobal g;
    curl_ = curl_easy_init();
    if (!curl_) throw EnvError("libcurl: cannot create a handle");
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL *>(curl_)); }

HttpResponse HttpClient::get(const std::string &path, int attempts) { return perform("GET", path, nullptr, attempts); }
HttpResponse HttpClient::post(const std::string &path, const std::string &body, int attempts) {
    return perform("POST", path, &body, attempts);
}
HttpResponse HttpClient::send(const std::string &method, const std::string &path, const std::string &body, int attempts) {
    return perform(method, path, body.empty() ? nullptr : &body, attempts);
}

int HttpClient::perform_once(const std::string &method, const std::string &path, const std::string *body, HttpResponse &r,
                             std::string &why) {
    CURL *c = static_cast<CURL *>(curl_);
    std::string url = base_ + path;
    r = HttpResponse{};
    why.clear();
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); // gzip when the server offers it
    if (insecure_) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!auth_.basic_user.empty()) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, auth_.basic_user.c_str());
        curl_easy_setopt(c, CURLOPT_PASSWORD, auth_.basic_password.c_str());
    }
    struct curl_slist *headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    std::string auth_header;
    if (!auth_.token.empty()) {
        auth_header = auth_.header == "authorization" ? "Authorization: Bearer " + auth_.token
                                                      : "X-Chroma-Token: " + auth_.token;
        headers = curl_slist_append(headers, auth_header.c_str());
    }
    if (body) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }
    if (method != "GET" && method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        if (r.status >= 500 || r.status == 429) why = fmt::format("HTTP {}", r.status);
    } else {
        why = curl_easy_strerror(rc);
    }
    return static_cast<int>(rc);
}

HttpResponse HttpClient::perform(const std::string &method, const std::string &path, const std::string *body,
                                 int attempts) {
    double backoff = 0.25;
    for (int attempt = 1;; ++attempt) {
        HttpResponse r;
        std::string why;
        auto rc = static_cast<CURLcode>(perform_once(method, path, body, r, why));
        if (why.empty()) return r;
        if (rc != CURLE_OK && (!transient_curl(rc) || attempt >= attempts))
            throw EnvError(fmt::format("cannot reach Chroma at {}: {} ({} {})", base_, why, method, path));
        if (attempt >= attempts) return r; // a final 5xx: the caller reports it with the body
        log::warn("retry", fmt::format("{} {}: {}; retrying in {:.1f}s (attempt {}/{})", method, path, why, backoff,
                                       attempt + 1, attempts),
                  {{"path", path}, {"reason", why}, {"attempt", attempt + 1}});
        std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
        backoff = std::min(backoff * 2, 8.0);
    }
}

HttpResponse HttpClient::get_when_up(const std::string &path, double wait_seconds) {
    const auto start = std::chrono::steady_clock::now();
    double backoff = 0.25;
    for (;;) {
        HttpResponse r;
        std::string why;
        auto rc = static_cast<CURLcode>(perform_once("GET", path, nullptr, r, why));
        if (why.empty()) return r;
        if (rc != CURLE_OK && !transient_curl(rc))
            throw EnvError(fmt::format("cannot reach Chroma at {}: {} (GET {})", base_, why, path));
        double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (waited + backoff > wait_seconds) {
            if (rc == CURLE_OK) return r; // a 5xx to the end: the caller reports it with the body
            throw EnvError(fmt::format("cannot reach Chroma at {}: {} (GET {}){}", base_, why, path,
                                       wait_seconds > 0 ? fmt::format("; waited {:.0f}s for it to start", waited) : ""));
        }
        log::warn("waiting_for_chroma",
                  fmt::format("Chroma at {} is not answering yet ({}); retrying in {:.1f}s ({:.0f}s of {:.0f}s waited)",
                              base_, why, backoff, waited, wait_seconds),
                  {{"reason", why}, {"waited_seconds", waited}});
        // Ctrl-C stops the wait at once rather than after the backoff.
        auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(backoff);
        while (std::chrono::steady_clock::now() < until) {
            interrupt::throw_if_requested("waiting for Chroma at " + base_);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        backoff = std::min(backoff * 2, 5.0);
    }
}

namespace {
std::atomic<double> g_chroma_start_wait{60.0};
}
void set_chroma_start_wait(double seconds) { g_chroma_start_wait = seconds; }
double chroma_start_wait() { return g_chroma_start_wait; }

void reject_api_path(const std::string &url) {
    std::string base = parse_url(url).base; // without credentials
    auto scheme_end = base.find("://");
    auto slash = base.find('/', scheme_end + 3);
    if (slash == std::string::npos) return;
    std::string path = base.substr(slash);
    for (size_t at = path.find("/api"); at != std::string::npos; at = path.find("/api", at + 1)) {
        std::string rest = path.substr(at + 4);
        if (rest.empty() || rest.starts_with("/v1") || rest.starts_with("/v2")) {
            std::string fixed = base.substr(0, slash + at);
            throw UsageError(fmt::format("{} includes Chroma's API path '{}': give the server's address, {} "
                                         "(chroma2pg adds /api/v2/... itself)",
                                         base, path.substr(at), fixed));
        }
    }
}

} // namespace c2p
