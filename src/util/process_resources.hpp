// What this process has used so far, from getrusage: for the reports' "this tool" figures.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

namespace c2p {

struct ProcessResources {
    uint64_t peak_rss_bytes = 0;
    double cpu_seconds = 0, user_seconds = 0, system_seconds = 0; // cpu = user + system
    nlohmann::ordered_json to_json() const;
};

ProcessResources process_resources();

} // namespace c2p
