#include "util/malloc_huge_pages.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>

#include <unistd.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

namespace c2p::malloc_huge_pages {
namespace {

constexpr const char *kTunables = "GLIBC_TUNABLES";
constexpr const char *kTunable = "glibc.malloc.hugetlb";
// Set for the re-executed process: "-" when GLIBC_TUNABLES was unset, "=VALUE" when it was set.
constexpr const char *kSaved = "CHROMA2PG_SAVED_GLIBC_TUNABLES";
constexpr const char *kSwitch = "CHROMA2PG_MALLOC_HUGE_PAGES";

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(__SANITIZE_MEMORY__)
constexpr bool kOnByDefault = false;
#else
constexpr bool kOnByDefault = true;
#endif

bool g_active = false;

void restore(const char *saved) {
    if (saved[0] == '=') setenv(kTunables, saved + 1, 1);
    else unsetenv(kTunables);
    unsetenv(kSaved);
}

// glibc.malloc.hugetlb came in glibc 2.35; an older one would ignore it.
bool glibc_knows_tunable() {
#ifdef __GLIBC__
    int major = 0, minor = 0;
    if (std::sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) != 2) return false;
    return major > 2 || (major == 2 && minor >= 35);
#else
    return false;
#endif
}

} // namespace

std::optional<std::string> tunables_with_huge_pages(const char *current) {
    std::string cur = current ? current : "";
    if (cur.find(kTunable) != std::string::npos) return std::nullopt;
    return (cur.empty() ? std::string() : cur + ":") + kTunable + "=1";
}

bool madvise_mode(const std::string &thp_enabled) { return thp_enabled.find("[madvise]") != std::string::npos; }

void reexec_if_useful(char **argv) {
    if (const char *saved = std::getenv(kSaved)) {
        restore(saved);
        g_active = true;
        return;
    }
    const char *sw = std::getenv(kSwitch);
    bool on = sw ? std::string_view(sw) == "1" : kOnByDefault;
    if (!on || !glibc_knows_tunable()) return;
    const char *cur = std::getenv(kTunables);
    auto tunables = tunables_with_huge_pages(cur);
    if (!tunables) return;
    std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string mode((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (!madvise_mode(mode)) return; // "always": already huge; "never" or no THP: nothing to gain
    // Started through the dynamic loader (`ld-linux-x86-64.so.2 chroma2pg …`), /proc/self/exe is the
    // loader, which would take the first argument for the program.
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec).filename().string();
    if (ec || exe.starts_with("ld-") || exe.starts_with("ld.so")) return;
    std::string saved = cur ? std::string("=") + cur : std::string("-");
    setenv(kSaved, saved.c_str(), 1);
    setenv(kTunables, tunables->c_str(), 1);
    execv("/proc/self/exe", argv);
    // No /proc, or the binary cannot be run again: go on as before, without the hint.
    restore(saved.c_str());
}

bool active() { return g_active; }

} // namespace c2p::malloc_huge_pages
