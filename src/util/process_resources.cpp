#include "util/process_resources.hpp"

#include <sys/resource.h>

namespace c2p {

ProcessResources process_resources() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double user = double(ru.ru_utime.tv_sec) + double(ru.ru_utime.tv_usec) / 1e6;
    const double sys = double(ru.ru_stime.tv_sec) + double(ru.ru_stime.tv_usec) / 1e6;
    return {static_cast<uint64_t>(ru.ru_maxrss) * 1024, user + sys, user, sys};
}

nlohmann::ordered_json ProcessResources::to_json() const {
    return {{"peak_rss_bytes", peak_rss_bytes}, {"cpu_seconds", cpu_seconds}, {"user_seconds", user_seconds},
            {"system_seconds", system_seconds}};
}

} // namespace c2p
